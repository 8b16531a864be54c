"""The parent's invoices: the three views of "Mes factures", an invoice's detail, hiding (DESIGN §1, §7)."""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import re
from datetime import datetime
from typing import Any

from espace_famille.clock import iso
from espace_famille.dal import invoices as store
from espace_famille.dal import links as link_store
from espace_famille.dal.links import Link
from espace_famille.dal.payments import HELD_UNTIL
from espace_famille.errors import NotFound, ValidationFailed
from espace_famille.links import names as link_names
from espace_famille.model import OPAQUE_ID, Invoice, Regie, link_id

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_CURSOR_SK = re.compile(r"^P#\d{4}-\d{2}-\d{2}#[A-Z0-9][A-Z0-9._/-]{0,39}$")

_NUMCLI = re.compile(r"^[0-9]{6}$")  # PayFiP's régie number: without it a régie cannot take a payment
# Payment backends built so far; a régie with another one (or "none") is not payable online.
ONLINE_BACKENDS = frozenset({"payfip"})
# Why an invoice cannot be paid online (`not_payable_reason`, documented in docs/api.md); "paid" and
# "cancelled" are the invoice's own status.
REGIE_NOT_PAYABLE_ONLINE = "regie_not_payable_online"
PAYMENT_IN_PROGRESS = "payment_in_progress"
BEING_CHECKED = "being_checked"


def not_payable_reason(invoice: Invoice, regie: Regie | None, now_iso: str) -> str | None:
    """Why the parent cannot tick this invoice, or None when it can be paid online now."""
    if invoice.status != "open":
        return invoice.status
    if invoice.lock_payment_id and invoice.lock_until == HELD_UNTIL:
        return BEING_CHECKED  # a payment whose money may have been taken is being checked by the trésorerie
    if invoice.locked_at(now_iso):
        return PAYMENT_IN_PROGRESS
    if (
        regie is None
        or regie.payment_backend not in ONLINE_BACKENDS
        or not _NUMCLI.match(regie.payment_options.get("numcli", ""))
    ):
        return REGIE_NOT_PAYABLE_ONLINE
    return None


def as_json(
    invoice: Invoice, collectivite_name: str, regie_name: str, regie: Regie | None, hidden: bool, now_iso: str
) -> dict[str, Any]:
    reason = not_payable_reason(invoice, regie, now_iso)
    return {
        "id": invoice.invoice_id,
        "collectivite_id": invoice.collectivite_id,
        "collectivite_name": collectivite_name,
        "regie_id": invoice.regie_id,
        "regie_name": regie_name,
        "reference": invoice.reference,
        "debtor_name": invoice.debtor_name,
        "issued_on": invoice.issued_on,
        "due_on": invoice.due_on,
        "amount_cents": invoice.amount_cents,
        "status": invoice.status,
        "paid_at": invoice.paid_at,
        "payment_id": invoice.paid_by if invoice.paid_by not in (None, "external") else None,
        "hidden": hidden,
        "payable": reason is None,
        "not_payable_reason": reason,
    }


def _newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["issued_on"], r["reference"], r["collectivite_id"]), reverse=True)


def list_invoices(account_id: str, view: str, limit: int, cursor: str | None, now: datetime) -> dict[str, Any]:
    now_iso = iso(now)
    links = link_store.of_account(account_id)
    hidden = store.hidden_ids(account_id)
    names = link_names(links)

    def shown(invoice: Invoice, is_hidden: bool) -> dict[str, Any]:
        return as_json(
            invoice,
            names.collectivite_name(invoice.collectivite_id),
            names.regie_name(invoice.collectivite_id, invoice.regie_id),
            names.regie(invoice.collectivite_id, invoice.regie_id),
            is_hidden,
            now_iso,
        )

    if view == "current":
        rows = [
            shown(inv, False)
            for lk in links
            for inv in store.open_of_debtor(lk.collectivite_id, lk.regie_id, lk.debtor_id)
            if inv.invoice_id not in hidden
        ]
        rows = _newest_first(rows)
        return {
            "invoices": rows,
            "total_due_cents": sum(r["amount_cents"] for r in rows if r["payable"]),
            "next_cursor": None,
        }
    if view == "hidden":
        linked = {lk.link_id for lk in links}
        rows = [
            shown(inv, True)
            for inv in store.many(hidden)
            if inv.status != "cancelled" and link_id(inv.collectivite_id, inv.regie_id, inv.debtor_id) in linked
        ]
        return {"invoices": _newest_first(rows), "total_due_cents": 0, "next_cursor": None}
    return _paid_page(links, hidden, limit, cursor, shown)


def _paid_page(links: list[Link], hidden: dict[str, str], limit: int, cursor: str | None, shown: Any) -> dict[str, Any]:
    """One page of paid invoices across every linked régie, newest first.

    Pages are cut in the order (sort key, link id), both descending; the cursor is the last item's place
    in that order, so each page costs one Query per link whatever the page number.
    """
    by_link = {lk.link_id: lk for lk in links}
    after = _read_cursor(cursor, by_link) if cursor else None
    # Hidden invoices are dropped after reading: read that many more (the account's own flags, a few).
    per_link = limit + 1 + len(hidden)
    candidates: list[tuple[str, str, Invoice]] = []
    for lk in links:
        if after is None:
            page = store.paid_page(lk.collectivite_id, lk.regie_id, lk.debtor_id, None, False, per_link)
        else:
            sk, cursor_link = after
            # Same sort key as the cursor: only links after it in the order are still to come.
            inclusive = lk.link_id < cursor_link
            page = store.paid_page(lk.collectivite_id, lk.regie_id, lk.debtor_id, sk, inclusive, per_link)
        candidates += [(sk_, lk.link_id, inv) for sk_, inv in page if inv.invoice_id not in hidden]
    ordered = heapq.nlargest(limit + 1, candidates, key=lambda c: (c[0], c[1]))
    page_items = ordered[:limit]
    next_cursor = _make_cursor(page_items[-1][0], page_items[-1][1]) if len(ordered) > limit else None
    return {
        "invoices": [shown(inv, False) for _, _, inv in page_items],
        "total_due_cents": 0,
        "next_cursor": next_cursor,
    }


def _make_cursor(sort_key: str, link: str) -> str:
    raw = json.dumps({"sk": sort_key, "link": link}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str, links: dict[str, Link]) -> tuple[str, str]:
    """A cursor this API made for this account; anything else (tampered, foreign, stale) is refused."""
    invalid = ValidationFailed("Données invalides — « cursor » : curseur invalide.")
    if len(cursor) > 512:
        raise invalid
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(data, dict) or set(data) != {"sk", "link"}:
        raise invalid
    sk, link = data["sk"], data["link"]
    if not isinstance(sk, str) or not isinstance(link, str) or not _CURSOR_SK.match(sk) or link not in links:
        raise invalid
    return sk, link


def _visible(account_id: str, invoice_id: str) -> tuple[Invoice, list[Any], bool, str, str, Regie | None]:
    if not OPAQUE_ID.match(invoice_id):
        raise NotFound()
    found = store.with_lines(invoice_id)
    if found is None:
        raise NotFound()
    invoice, lines = found
    linked, hidden, coll_name, regie_name, regie = store.context_of(account_id, invoice)
    # Cancelled invoices appear nowhere; another family's are simply not there.
    if not linked or invoice.status == "cancelled":
        raise NotFound()
    return invoice, lines, hidden, coll_name, regie_name, regie


def detail(account_id: str, invoice_id: str, now: datetime) -> dict[str, Any]:
    invoice, lines, hidden, coll_name, regie_name, regie = _visible(account_id, invoice_id)
    out = as_json(invoice, coll_name, regie_name, regie, hidden, iso(now))
    out["lines"] = [line.as_json() for line in lines]
    return out


def set_hidden(account_id: str, invoice_id: str, hidden: bool, now: datetime) -> None:
    if not OPAQUE_ID.match(invoice_id):
        raise NotFound()
    invoice = store.get(invoice_id)
    if invoice is None or invoice.status == "cancelled":
        raise NotFound()
    if link_store.find(account_id, invoice.collectivite_id, invoice.regie_id, invoice.debtor_id) is None:
        raise NotFound()
    if hidden:
        store.hide(account_id, invoice_id, iso(now))
    else:
        store.unhide(account_id, invoice_id)

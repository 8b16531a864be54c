"""The parent's invoices: the three views of "Mes factures", an invoice's detail, hiding (docs/api.md)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from espace_famille.answers import InvoiceAnswer, InvoiceDetail, InvoiceLineAnswer, InvoicePage
from espace_famille.clock import iso
from espace_famille.dal import catalog
from espace_famille.dal import invoices as store
from espace_famille.dal import links as link_store
from espace_famille.dal.payments import HELD_UNTIL
from espace_famille.dal.table import in_parallel
from espace_famille.errors import NotFound, ValidationFailed
from espace_famille.links import names as link_names
from espace_famille.model import (
    OPAQUE_ID,
    PAID_EXTERNALLY,
    Invoice,
    InvoiceStatus,
    Link,
    NotPayableReason,
    Regie,
    View,
    link_id,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_CURSOR_SK = re.compile(r"^P#\d{4}-\d{2}-\d{2}#[A-Z0-9][A-Z0-9._/-]{0,39}$")

_NUMCLI = re.compile(r"^[0-9]{6}$")  # PayFiP's régie number: without it a régie cannot take a payment
# Payment backends built so far; a régie with another one (or "none") is not payable online.
ONLINE_BACKENDS = frozenset({"payfip"})


def not_payable_reason(invoice: Invoice, regie: Regie | None, now_iso: str) -> NotPayableReason | None:
    """Why the parent cannot tick this invoice, or None when it can be paid online now."""
    if invoice.status != InvoiceStatus.OPEN:
        # "paid" and "cancelled" are the invoice's own status.
        return NotPayableReason(invoice.status)
    if invoice.lock_payment_id and invoice.lock_until == HELD_UNTIL:
        # A payment whose money may have been taken is being checked by the trésorerie.
        return NotPayableReason.BEING_CHECKED
    if invoice.locked_at(now_iso):
        return NotPayableReason.PAYMENT_IN_PROGRESS
    if (
        regie is None
        or regie.payment_backend not in ONLINE_BACKENDS
        or not _NUMCLI.match(regie.payment_options.get("numcli", ""))
    ):
        return NotPayableReason.REGIE_NOT_PAYABLE_ONLINE
    return None


def answer(
    invoice: Invoice, collectivite_name: str, regie_name: str, regie: Regie | None, hidden: bool, now_iso: str
) -> InvoiceAnswer:
    """The invoice as the API shows it, built once from the record."""
    return InvoiceAnswer(**_shown(invoice, collectivite_name, regie_name, regie, hidden, now_iso))


def _shown(
    invoice: Invoice, collectivite_name: str, regie_name: str, regie: Regie | None, hidden: bool, now_iso: str
) -> dict[str, Any]:
    """The fields of InvoiceAnswer (and of InvoiceDetail, which adds the lines)."""
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
        "payment_id": invoice.paid_by if invoice.paid_by not in (None, PAID_EXTERNALLY) else None,
        "hidden": hidden,
        "payable": reason is None,
        "not_payable_reason": reason,
    }


def _newest_first(rows: list[InvoiceAnswer]) -> list[InvoiceAnswer]:
    return sorted(rows, key=lambda r: (r.issued_on, r.reference, r.collectivite_id), reverse=True)


def list_invoices(account_id: str, view: View, limit: int, cursor: str | None, now: datetime) -> InvoicePage:
    """One view, in three sequential round trips whatever the régies: the authorizer's read; one Query of the
    account's partition (links, hidden flags); then, all at once, the linked régies' Queries. Their régies and
    collectivités (names, and whether a régie takes payments online now) come from the process's recent copy,
    or from one BatchGetItem in that same round trip when it has none (links.names)."""
    now_iso = iso(now)
    links, hidden = link_store.links_and_hidden(account_id)

    def shown_with(names: catalog.Found) -> Callable[[Invoice, bool], InvoiceAnswer]:
        def shown(invoice: Invoice, is_hidden: bool) -> InvoiceAnswer:
            return answer(
                invoice,
                names.collectivite_name(invoice.collectivite_id),
                names.regie_name(invoice.collectivite_id, invoice.regie_id),
                names.regie(invoice.collectivite_id, invoice.regie_id),
                is_hidden,
                now_iso,
            )

        return shown

    if view == View.CURRENT:
        # Not paginated: total_due_cents is the sum of the whole view, which a family's open invoices keep small.
        names, per_link = _with_names(
            links,
            [partial(store.open_of_debtor, lk.collectivite_id, lk.regie_id, lk.debtor_id) for lk in links],
        )
        shown = shown_with(names)
        rows = [shown(inv, False) for invoices in per_link for inv in invoices if inv.invoice_id not in hidden]
        rows = _newest_first(rows)
        return InvoicePage(
            invoices=rows, total_due_cents=sum(r.amount_cents for r in rows if r.payable), next_cursor=None
        )
    if view == View.HIDDEN:
        linked = {lk.link_id for lk in links}
        names, [found] = _with_names(links, [lambda: store.many(hidden) if linked and hidden else []])
        shown = shown_with(names)
        rows = [
            shown(inv, True)
            for inv in found
            if inv.status != InvoiceStatus.CANCELLED
            and link_id(inv.collectivite_id, inv.regie_id, inv.debtor_id) in linked
        ]
        return InvoicePage(invoices=_newest_first(rows), total_due_cents=0, next_cursor=None)
    return _paid_page(links, hidden, limit, cursor, shown_with)


def _with_names(links: list[Link], reads: list[Callable[[], Any]]) -> tuple[catalog.Found, list[Any]]:
    """The links' collectivités and régies (a recent copy, else one BatchGetItem) and `reads`, all at once."""
    results = in_parallel(lambda job: job(), [lambda: link_names(links), *reads])
    return results[0], results[1:]


def _paid_page(
    links: list[Link],
    hidden: dict[str, str],
    limit: int,
    cursor: str | None,
    shown_with: Callable[[catalog.Found], Callable[[Invoice, bool], InvoiceAnswer]],
) -> InvoicePage:
    """One page of paid invoices across every linked régie, newest first, in one round of Queries.

    Pages are cut in the order (sort key, link id), both descending; the cursor is the last place the page
    covers, so each page costs one Query per link whatever the page number. Each link reads only its share,
    ceil((limit + 1) / links) items, not limit + 1: the page then holds what is certainly next in the merged
    order, everything down to the highest place where a link stopped reading (below it, that link may have
    newer invoices unread). A page therefore holds at most `limit` invoices, and at least that share while
    more remain; hidden invoices read are dropped, not replaced.
    """
    by_link = {lk.link_id: lk for lk in links}
    after = _read_cursor(cursor, by_link) if cursor else None
    if not links:
        return InvoicePage(invoices=[], total_due_cents=0, next_cursor=None)
    share = -(-(limit + 1) // len(links))

    def read(lk: Link) -> list[tuple[str, Invoice]]:
        if after is None:
            return store.paid_page(lk.collectivite_id, lk.regie_id, lk.debtor_id, None, False, share)
        sk, cursor_link = after
        # Same sort key as the cursor: only links after it in the order are still to come.
        return store.paid_page(lk.collectivite_id, lk.regie_id, lk.debtor_id, sk, lk.link_id < cursor_link, share)

    names, pages = _with_names(links, [partial(read, lk) for lk in links])
    shown = shown_with(names)
    candidates = sorted(
        ((sk, lk.link_id, inv) for lk, page in zip(links, pages, strict=True) for sk, inv in page),
        key=lambda c: (c[0], c[1]),
        reverse=True,
    )
    # Links that filled their share may hold more below their last item: the page stops at the highest of those.
    stops = [(page[-1][0], lk.link_id) for lk, page in zip(links, pages, strict=True) if len(page) == share]
    stop = max(stops) if stops else None
    certain = [c for c in candidates if stop is None or (c[0], c[1]) >= stop]
    covered = certain[:limit]
    more = len(certain) > limit or stop is not None
    next_cursor = _make_cursor(covered[-1][0], covered[-1][1]) if more and covered else None
    return InvoicePage(
        invoices=[shown(inv, False) for _, _, inv in covered if inv.invoice_id not in hidden],
        total_due_cents=0,
        next_cursor=next_cursor,
    )


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
    if not linked or invoice.status == InvoiceStatus.CANCELLED:
        raise NotFound()
    return invoice, lines, hidden, coll_name, regie_name, regie


def detail(account_id: str, invoice_id: str, now: datetime) -> InvoiceDetail:
    invoice, lines, hidden, coll_name, regie_name, regie = _visible(account_id, invoice_id)
    shown = _shown(invoice, coll_name, regie_name, regie, hidden, iso(now))
    return InvoiceDetail(**shown, lines=[InvoiceLineAnswer(**line.as_json()) for line in lines])


def set_hidden(account_id: str, invoice_id: str, hidden: bool, now: datetime) -> None:
    if not OPAQUE_ID.match(invoice_id):
        raise NotFound()
    invoice = store.get(invoice_id)
    if invoice is None or invoice.status == InvoiceStatus.CANCELLED:
        raise NotFound()
    if link_store.find(account_id, invoice.collectivite_id, invoice.regie_id, invoice.debtor_id) is None:
        raise NotFound()
    if hidden:
        store.hide(account_id, invoice_id, iso(now))
    else:
        store.unhide(account_id, invoice_id)

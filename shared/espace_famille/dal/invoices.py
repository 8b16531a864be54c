"""Data access of the parent's read side: a debtor's invoices by status, an invoice with its lines, hidden flags."""

from __future__ import annotations

from collections.abc import Iterable

from espace_famille.dal import catalog, keys
from espace_famille.dal.table import Item, batch_get, client, query, query_all, table, to_ddb, values
from espace_famille.model import Invoice, InvoiceLine, Regie, link_id

# Sort keys of a debtor's GSI1 partition: O# (open) < P# (paid) < X# (cancelled); "$" follows "#".
_OPEN, _PAID = keys.INVOICE_STATE_PREFIX["open"], keys.INVOICE_STATE_PREFIX["paid"]


def open_of_debtor(cid: str, rid: str, did: str) -> list[Invoice]:
    """Every open invoice of the debtor in the régie, newest first (one Query per 1 MB)."""
    return [
        catalog.invoice_from(i)
        for i in query_all(
            "GSI1PK = :pk AND begins_with(GSI1SK, :s)",
            values(pk=keys.debtor_partition(cid, rid, did), s=_OPEN),
            index=keys.GSI1,
            forward=False,
        )
    ]


def paid_page(
    cid: str, rid: str, did: str, before: str | None, inclusive: bool, limit: int
) -> list[tuple[str, Invoice]]:
    """Up to `limit` paid invoices of the debtor, newest first, below the sort key `before` (one Query).

    Read downwards from below "P$" (or the cursor), paid invoices come first; the first item that is not
    one (open invoices sort below) ends them.
    """
    bound = before if before is not None else _PAID[:-1] + "$"
    operator = "<=" if inclusive and before is not None else "<"
    items, _ = query(
        f"GSI1PK = :pk AND GSI1SK {operator} :b",
        values(pk=keys.debtor_partition(cid, rid, did), b=bound),
        index=keys.GSI1,
        forward=False,
        limit=limit,
    )
    out = []
    for item in items:
        if not item["GSI1SK"].startswith(_PAID):
            break
        out.append((item["GSI1SK"], catalog.invoice_from(item)))
    return out


# A claim reports how many invoices it found, counted in one bounded read rather than over the debtor's
# whole partition: a family's invoices in one régie (one a month for decades) stay below this.
COUNT_MAX = 1000


def count_of_debtor(cid: str, rid: str, did: str) -> int:
    """Open and paid invoices of the debtor in the régie, up to COUNT_MAX (one Query that reads no more).

    Cancelled invoices are shown to no one and not counted.
    """
    out = client().query(
        TableName=table(),
        IndexName=keys.GSI1,
        KeyConditionExpression="GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi",
        ExpressionAttributeValues=values(pk=keys.debtor_partition(cid, rid, did), lo=_OPEN, hi=_PAID[:-1] + "$"),
        Select="COUNT",
        Limit=COUNT_MAX,
    )
    return int(out.get("Count", 0))


def with_lines(invoice_id: str) -> tuple[Invoice, list[InvoiceLine]] | None:
    """The invoice and its lines: one partition, one Query."""
    invoice: Invoice | None = None
    lines: list[InvoiceLine] = []
    for item in query_all("PK = :pk", values(pk=keys.invoice_partition(invoice_id))):
        record = catalog.from_item(item)
        if isinstance(record, Invoice):
            invoice = record
        elif isinstance(record, InvoiceLine):
            lines.append(record)
    if invoice is None:
        return None
    return invoice, sorted(lines, key=lambda line: line.line_no)


def get(invoice_id: str) -> Invoice | None:
    found = catalog.lookup(invoices=[invoice_id])
    return found.invoice(invoice_id)


def many(invoice_ids: Iterable[str]) -> list[Invoice]:
    items = batch_get([keys.invoice(i) for i in set(invoice_ids)])
    return [catalog.invoice_from(i) for i in items]


# -- hidden flags ------------------------------------------------------------------------------------
def hidden_ids(account_id: str) -> dict[str, str]:
    """The invoices this account hid: invoice id -> when."""
    return {
        item["SK"].split("#", 1)[1]: item.get("hidden_at", "")
        for item in query_all(
            "PK = :pk AND begins_with(SK, :p)", values(pk=keys.account_partition(account_id), p="HIDDEN#")
        )
    }


def hide(account_id: str, invoice_id: str, now_iso: str) -> None:
    item = {**keys.hidden(account_id, invoice_id), "hidden_at": now_iso}
    client().put_item(TableName=table(), Item=to_ddb(item))


def unhide(account_id: str, invoice_id: str) -> None:
    client().delete_item(TableName=table(), Key=to_ddb(keys.hidden(account_id, invoice_id)))


def context_of(account_id: str, invoice: Invoice) -> tuple[bool, bool, str, str, Regie | None]:
    """For one invoice and one account, in one BatchGetItem: (linked, hidden, collectivité name, régie name, régie)."""
    wanted = [
        keys.link(account_id, link_id(invoice.collectivite_id, invoice.regie_id, invoice.debtor_id)),
        keys.hidden(account_id, invoice.invoice_id),
        keys.collectivite(invoice.collectivite_id),
        keys.regie(invoice.collectivite_id, invoice.regie_id),
    ]
    found: dict[str, Item] = {i["SK"].split("#", 1)[0]: i for i in batch_get(wanted)}
    coll, regie = found.get("COLL"), found.get("REGIE")
    record = catalog.from_item(regie) if regie else None
    return (
        "LINK" in found,
        "HIDDEN" in found,
        coll["name"] if coll else invoice.collectivite_id,
        regie["name"] if regie else invoice.regie_id,
        record if isinstance(record, Regie) else None,
    )

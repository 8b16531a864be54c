"""Data access of the régie data (collectivités, régies, debtors, invoices, lines, news): items both ways."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from espace_famille.dal import keys
from espace_famille.dal.mapping import RecordMapping
from espace_famille.dal.table import (
    Item,
    Key,
    batch_get,
    batch_write,
    cancellation_reasons,
    client,
    is_condition_failure,
    query_all,
    table,
    to_ddb,
    transact,
    values,
)
from espace_famille.dal.wire import AwsError
from espace_famille.model import Collectivite, Debtor, Invoice, InvoiceLine, NewsItem, Regie

Record = Collectivite | Regie | Debtor | Invoice | InvoiceLine | NewsItem

# Each record's one mapping (docs/data-model.md): the `kind` attribute tells them apart when read back.
COLLECTIVITE = RecordMapping(Collectivite, lambda c: keys.collectivite(c.collectivite_id), kind="collectivite")
REGIE = RecordMapping(Regie, lambda r: keys.regie(r.collectivite_id, r.regie_id), kind="regie")
DEBTOR = RecordMapping(Debtor, lambda d: keys.debtor(d.collectivite_id, d.regie_id, d.debtor_id), kind="debtor")
INVOICE = RecordMapping(
    Invoice,
    lambda i: keys.invoice(i.invoice_id),
    indexes=lambda i: keys.invoice_gsi1(i.collectivite_id, i.regie_id, i.debtor_id, i.status, i.issued_on, i.reference),
    kind="invoice",
    derived=("invoice_id",),
)
INVOICE_LINE = RecordMapping(
    InvoiceLine, lambda ln: keys.invoice_line(ln.invoice_id, ln.line_no), kind="invoice_line", derived=("invoice_id",)
)
NEWS = RecordMapping(
    NewsItem,
    lambda n: keys.news(n.collectivite_id, n.published_on, n.news_id),
    indexes=lambda n: keys.news_gsi1(n.collectivite_id, n.published_on, n.news_id),
    kind="news",
)
_MAPPINGS: tuple[RecordMapping[Any], ...] = (COLLECTIVITE, REGIE, DEBTOR, INVOICE, INVOICE_LINE, NEWS)
_BY_TYPE: dict[type, RecordMapping[Any]] = {m.record: m for m in _MAPPINGS}
_BY_KIND: dict[str | None, RecordMapping[Any]] = {m.kind: m for m in _MAPPINGS}


def key_of(record: Record) -> Key:
    return _BY_TYPE[type(record)].key(record)


def to_item(record: Record) -> Item:
    """The stored form of a record (keys included)."""
    return _BY_TYPE[type(record)].to_item(record)


def from_item(item: Item) -> Record:
    mapping = _BY_KIND.get(item.get("kind"))
    if mapping is None:
        raise ValueError(f"not a régie data item: {item.get('kind')!r}")
    record: Record = mapping.from_item(item)
    return record


def invoice_from(item: Item) -> Invoice:
    return INVOICE.from_item(item)


class Found:
    """What one lookup found, asked for by what the caller knows (ids, or the records it compares)."""

    def __init__(self, stored: dict[tuple[str, str], Record]) -> None:
        self._stored = stored

    def collectivite(self, cid: str) -> Collectivite | None:
        found = self._stored.get(_ident(keys.collectivite(cid)))
        return found if isinstance(found, Collectivite) else None

    def regie(self, cid: str, rid: str) -> Regie | None:
        found = self._stored.get(_ident(keys.regie(cid, rid)))
        return found if isinstance(found, Regie) else None

    def collectivite_name(self, cid: str) -> str:
        """The name a parent reads; the id itself if the collectivité is not (or no longer) there."""
        found = self.collectivite(cid)
        return found.name if found else cid

    def regie_name(self, cid: str, rid: str) -> str:
        found = self.regie(cid, rid)
        return found.name if found else rid

    def invoice(self, invoice_id: str) -> Invoice | None:
        found = self._stored.get(_ident(keys.invoice(invoice_id)))
        return found if isinstance(found, Invoice) else None

    def stored(self, record: Record) -> Record | None:
        """The stored version of the record with the same identity, if any."""
        return self._stored.get(_ident(key_of(record)))


def lookup(
    *,
    collectivites: Iterable[str] = (),
    regies: Iterable[tuple[str, str]] = (),
    invoices: Iterable[str] = (),
    records: Iterable[Record] = (),
    consistent: bool = False,
) -> Found:
    """Everything asked for, in as few BatchGetItem calls as the keys allow (100 keys per call).

    `consistent`: strongly consistent reads, for a writer that compares with what it wrote a moment ago.
    """
    wanted: list[Key] = [keys.collectivite(c) for c in collectivites]
    wanted += [keys.regie(c, r) for c, r in regies]
    wanted += [keys.invoice(i) for i in invoices]
    wanted += [key_of(r) for r in records]
    unique = list({_ident(k): k for k in wanted}.values())
    found = {(i["PK"], i["SK"]): from_item(i) for i in batch_get(unique, consistent=consistent)} if unique else {}
    return Found(found)


# This process's copy of the collectivités and régies it read, by key: (valid until, record or None).
_recent: dict[tuple[str, str], tuple[float, Record | None]] = {}


def lookup_recent(
    *, collectivites: Iterable[str], regies: Iterable[tuple[str, str]], now: float, max_age: float
) -> Found:
    """Like `lookup`, from this process's copy when every record asked for was read less than `max_age`
    seconds ago (by the caller's monotonic `now`); else all of them are read again in one batch."""
    collectivites, regies = list(collectivites), list(regies)
    wanted = [keys.collectivite(c) for c in collectivites] + [keys.regie(c, r) for c, r in regies]
    idents = [_ident(k) for k in wanted]
    if any(ident not in _recent or _recent[ident][0] <= now for ident in idents):
        found = lookup(collectivites=collectivites, regies=regies)
        for ident in idents:
            # Absent ones are kept too: they show by their ids.
            _recent[ident] = (now + max_age, found._stored.get(ident))
    return Found({ident: kept for ident in idents if (kept := _recent[ident][1]) is not None})


def forget_recent() -> None:
    _recent.clear()


def _ident(key: Key) -> tuple[str, str]:
    return key["PK"], key["SK"]


def put_all(records: Iterable[Record]) -> int:
    """Writes records unconditionally (BatchWriteItem, retried); returns the number of calls made."""
    items = [to_item(r) for r in records]
    return batch_write(puts=items) if items else 0


_OPEN_AND_FREE = "#s = :open AND (attribute_not_exists(lock_until) OR lock_until <= :now)"


def replace_open_invoice(new: Invoice, now_iso: str, debtor: Debtor | None = None) -> bool:
    """Replaces an invoice only if it is still open and no live payment holds it; False otherwise.

    With `debtor`, the debtor's item (its name as the régie now writes it) changes in the same
    transaction: both or neither.
    """
    put: dict[str, Any] = {
        "TableName": table(),
        "Item": to_ddb(to_item(new)),
        "ConditionExpression": _OPEN_AND_FREE,
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": values(open="open", now=now_iso),
    }
    try:
        if debtor is None:
            client().put_item(**put)
        else:
            transact([{"Put": put}, {"Put": {"TableName": table(), "Item": to_ddb(to_item(debtor))}}])
    except AwsError as exc:
        if is_condition_failure(exc) or "ConditionalCheckFailed" in cancellation_reasons(exc):
            return False
        raise
    return True


def invoice_totals(invoice_id: str) -> tuple[int, int, int] | None:
    """(amount, sum of the lines, number of lines) of a stored invoice, read consistently; None if absent.

    One Query of the invoice's partition (the invoice and its lines).
    """
    amount: int | None = None
    total = count = 0
    for item in query_all("PK = :pk", values(pk=keys.invoice_partition(invoice_id)), consistent=True):
        if item.get("kind") == "invoice":
            amount = int(item["amount_cents"])
        elif item.get("kind") == "invoice_line":
            total += int(item["amount_cents"])
            count += 1
    return None if amount is None else (amount, total, count)


def as_plain(record: Record) -> dict[str, Any]:
    """A record as a dict without its keys, to compare a row with what is stored."""
    return _BY_TYPE[type(record)].attributes(record)

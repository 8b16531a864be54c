"""Data access of the régie data (collectivités, régies, debtors, invoices, lines, news): items both ways."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from espace_famille.dal import keys
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


def key_of(record: Record) -> Key:
    if isinstance(record, Collectivite):
        return keys.collectivite(record.collectivite_id)
    if isinstance(record, Regie):
        return keys.regie(record.collectivite_id, record.regie_id)
    if isinstance(record, Debtor):
        return keys.debtor(record.collectivite_id, record.regie_id, record.debtor_id)
    if isinstance(record, Invoice):
        return keys.invoice(record.invoice_id)
    if isinstance(record, InvoiceLine):
        return keys.invoice_line(record.invoice_id, record.line_no)
    return keys.news(record.collectivite_id, record.published_on, record.news_id)


def to_item(record: Record) -> Item:
    """The stored form of a record (keys included)."""
    item: Item = {**key_of(record)}
    if isinstance(record, Collectivite):
        item.update(kind="collectivite", collectivite_id=record.collectivite_id, name=record.name)
    elif isinstance(record, Regie):
        item.update(
            kind="regie",
            collectivite_id=record.collectivite_id,
            regie_id=record.regie_id,
            name=record.name,
            payment_backend=record.payment_backend,
            payment_options=dict(record.payment_options),
        )
    elif isinstance(record, Debtor):
        item.update(
            kind="debtor",
            collectivite_id=record.collectivite_id,
            regie_id=record.regie_id,
            debtor_id=record.debtor_id,
            name=record.name,
        )
    elif isinstance(record, Invoice):
        item.update(
            keys.invoice_gsi1(
                record.collectivite_id,
                record.regie_id,
                record.debtor_id,
                record.status,
                record.issued_on,
                record.reference,
            )
        )
        item.update(
            kind="invoice",
            invoice_id=record.invoice_id,
            collectivite_id=record.collectivite_id,
            regie_id=record.regie_id,
            reference=record.reference,
            key_digest=record.key_digest,
            debtor_id=record.debtor_id,
            debtor_name=record.debtor_name,
            issued_on=record.issued_on,
            due_on=record.due_on,
            amount_cents=record.amount_cents,
            status=record.status,
            paid_at=record.paid_at,
            paid_by=record.paid_by,
            lock_payment_id=record.lock_payment_id,
            lock_until=record.lock_until,
        )
    elif isinstance(record, InvoiceLine):
        item.update(
            kind="invoice_line",
            invoice_id=record.invoice_id,
            collectivite_id=record.collectivite_id,
            reference=record.reference,
            line_no=record.line_no,
            label=record.label,
            quantity=record.quantity,
            unit_price_cents=record.unit_price_cents,
            amount_cents=record.amount_cents,
        )
    else:
        item.update(keys.news_gsi1(record.collectivite_id, record.published_on, record.news_id))
        item.update(
            kind="news",
            collectivite_id=record.collectivite_id,
            news_id=record.news_id,
            published_on=record.published_on,
            category=record.category,
            title=record.title,
            body=record.body,
        )
    return {k: v for k, v in item.items() if v is not None}


def from_item(item: Item) -> Record:
    kind = item.get("kind")
    if kind == "collectivite":
        return Collectivite(item["collectivite_id"], item["name"])
    if kind == "regie":
        return Regie(
            item["collectivite_id"],
            item["regie_id"],
            item["name"],
            item["payment_backend"],
            {str(k): str(v) for k, v in (item.get("payment_options") or {}).items()},
        )
    if kind == "debtor":
        return Debtor(item["collectivite_id"], item["regie_id"], item["debtor_id"], item["name"])
    if kind == "invoice":
        return invoice_from(item)
    if kind == "invoice_line":
        return InvoiceLine(
            item["collectivite_id"],
            item["reference"],
            int(item["line_no"]),
            item["label"],
            Decimal(str(item["quantity"])),
            int(item["unit_price_cents"]),
            int(item["amount_cents"]),
        )
    if kind == "news":
        return NewsItem(
            item["collectivite_id"],
            item["news_id"],
            item["published_on"],
            item["category"],
            item["title"],
            item["body"],
        )
    raise ValueError(f"not a régie data item: {kind!r}")


def invoice_from(item: Item) -> Invoice:
    return Invoice(
        collectivite_id=item["collectivite_id"],
        regie_id=item["regie_id"],
        reference=item["reference"],
        key_digest=item["key_digest"],
        debtor_id=item["debtor_id"],
        debtor_name=item["debtor_name"],
        issued_on=item["issued_on"],
        due_on=item["due_on"],
        amount_cents=int(item["amount_cents"]),
        status=item["status"],
        paid_at=item.get("paid_at"),
        paid_by=item.get("paid_by"),
        lock_payment_id=item.get("lock_payment_id"),
        lock_until=item.get("lock_until"),
    )


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
    return {k: v for k, v in to_item(record).items() if not k.startswith(("PK", "SK", "GSI"))}

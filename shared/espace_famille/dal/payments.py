"""Data access of payments: the payment item, its provider reference, and the transactions that lock and settle invoices.

The only code that builds payment and lock keys. Every state change is one TransactWriteItems whose conditions
repeat what the domain read: a payment moves from the status it was read in, an invoice is paid or released
only while it is still the way it was read. A cancelled transaction tells the caller to read again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from espace_famille.dal import catalog, keys
from espace_famille.dal.mapping import RecordMapping
from espace_famille.dal.table import (
    batch_get,
    cancellation_reasons,
    client,
    from_ddb,
    get,
    is_condition_failure,
    query,
    table,
    to_ddb,
    transact,
    values,
)
from espace_famille.dal.wire import AwsError
from espace_famille.model import Invoice, Regie, link_id

# An anomaly's hold on its invoices: a lock that never runs out, so every rule that respects a payment's
# lock (a new payment, an import's update) respects the hold too, until operations lift it.
HELD_UNTIL = "9999-12-31T23:59:59.999999Z"

# Statuses that keep a payment in a GSI2 partition.
_INDEXED_STATES = ("pending", "anomaly")


@dataclass(frozen=True)
class PaidInvoice:
    """What a payment keeps of each invoice it pays: enough for the recap and the receipt without reading them."""

    invoice_id: str
    reference: str
    amount_cents: int


@dataclass(frozen=True)
class Payment:
    payment_id: str
    reference: str  # the refdet given to the provider: the payment's own, 6-30 alphanumerics
    account_id: str | None  # None once the account is deleted (payments stay, as accounting records)
    collectivite_id: str
    regie_id: str
    regie_name: str
    backend: str
    numcli: str
    invoices: tuple[PaidInvoice, ...]
    amount_cents: int
    email: str
    status: str  # pending | paid | refused | cancelled | expired | error | anomaly
    created_at: str
    updated_at: str
    lock_until: str
    provider_ref: str | None = None
    checked_at: str | None = None
    paid_at: str | None = None
    transaction_number: str | None = None
    anomaly: str | None = None
    history: tuple[dict[str, str], ...] = field(default_factory=tuple)

    @property
    def invoice_ids(self) -> list[str]:
        return [i.invoice_id for i in self.invoices]


def _indexes(p: Payment) -> dict[str, str]:
    """A payment is in its account's list while the account exists, and in its state's partition while pending
    or an anomaly."""
    indexes = keys.payment_gsi1(p.account_id, p.created_at, p.payment_id) if p.account_id else {}
    if p.status in _INDEXED_STATES:
        indexes.update(keys.payment_state_gsi2(p.status, p.created_at, p.payment_id))
    return indexes


# The one mapping of a payment (docs/data-model.md). Older items may lack the régie's name (its id stands
# in), `updated_at` (the creation) and the provider's fields; a deleted account's payments, their account.
PAYMENT = RecordMapping(
    Payment,
    lambda p: keys.payment(p.payment_id),
    indexes=_indexes,
    kind="payment",
    write={"invoices": lambda paid: [asdict(i) for i in paid]},
    read={
        "regie_name": lambda item: str(item.get("regie_name") or item["regie_id"]),
        "updated_at": lambda item: str(item.get("updated_at") or item["created_at"]),
        "invoices": lambda item: tuple(
            PaidInvoice(i["invoice_id"], i["reference"], int(i["amount_cents"])) for i in item.get("invoices", [])
        ),
        "history": lambda item: tuple({str(k): str(v) for k, v in h.items()} for h in item.get("history", [])),
    },
    absent={"account_id": None, "numcli": "", "lock_until": ""},
)
from_item = PAYMENT.from_item


# -- reads ---------------------------------------------------------------------------------------------
def get_payment(payment_id: str, consistent: bool = False) -> Payment | None:
    item = get(keys.payment(payment_id), consistent=consistent)
    return from_item(item) if item else None


def payment_of_provider_ref(backend: str, ref: str) -> str | None:
    item = get(keys.provider_ref(backend, ref))
    return str(item["payment_id"]) if item else None


def of_account(account_id: str, limit: int = 50) -> list[Payment]:
    items, _ = query(
        "GSI1PK = :pk AND begins_with(GSI1SK, :p)",
        values(pk=keys.account_partition(account_id), p="PAY#"),
        index=keys.GSI1,
        forward=False,
        limit=limit,
    )
    return [from_item(i) for i in items]


def in_state(state: str, limit: int = 100, start: dict[str, Any] | None = None) -> tuple[list[Payment], Any]:
    """One page of the pending payments (oldest first) or of the anomalies."""
    items, last = query(
        "GSI2PK = :pk",
        values(pk=keys.payment_state_partition(state)),
        index=keys.GSI2,
        limit=limit,
        start_key=start,
    )
    return [from_item(i) for i in items], last


def payer_context(account_id: str, invoices: Iterable[Invoice]) -> tuple[set[tuple[str, str, str]], list[Regie]]:
    """In one BatchGetItem: which of these invoices' debtors the account is linked to, and their régies.

    Strongly consistent: a listing may show a régie as it was a minute ago (links.names), a payment does not.
    """
    debtors = {(i.collectivite_id, i.regie_id, i.debtor_id) for i in invoices}
    regies = {(cid, rid) for cid, rid, _ in debtors}
    wanted = [keys.link(account_id, link_id(*d)) for d in debtors] + [keys.regie(*r) for r in regies]
    found = batch_get(wanted, consistent=True) if wanted else []
    linked = {(i["collectivite_id"], i["regie_id"], i["debtor_id"]) for i in found if i["SK"].startswith("LINK#")}
    records = [catalog.from_item(i) for i in found if i["SK"].startswith("REGIE#")]
    return linked, [r for r in records if isinstance(r, Regie)]


def invoices_of(invoice_ids: list[str], consistent: bool = True) -> dict[str, Invoice]:
    """The invoices by id (absent ones are missing from the result); one BatchGetItem for up to 100."""
    items = batch_get([keys.invoice(i) for i in dict.fromkeys(invoice_ids)], consistent=consistent)
    return {i["invoice_id"]: catalog.invoice_from(i) for i in items}


# -- writes --------------------------------------------------------------------------------------------
_FREE = "(attribute_not_exists(lock_until) OR lock_until <= :now)"
_OPEN_FREE_OR_OURS = f"#s = :open AND (lock_payment_id = :pid OR {_FREE})"


class Conflict(Exception):
    """A transaction's condition failed: what was read changed meanwhile. `reasons`: per item, in order."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


def _transact(items: list[dict[str, Any]]) -> None:
    try:
        transact(items)
    except AwsError as exc:
        reasons = cancellation_reasons(exc)
        if "ConditionalCheckFailed" in reasons:
            raise Conflict(reasons) from None
        raise


def create(payment: Payment, now_iso: str) -> None:
    """Puts the pending payment and locks its invoices, in one transaction.

    Each invoice must be open and free (no lock, or one past its time: a hold never is). Raises Conflict
    whose reasons say which invoices were not (item 0 is the payment itself).
    """
    name = table()
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": name,
                "Item": to_ddb(PAYMENT.to_item(payment)),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
    ]
    for invoice_id in payment.invoice_ids:
        items.append(
            {
                "Update": {
                    "TableName": name,
                    "Key": to_ddb(keys.invoice(invoice_id)),
                    "UpdateExpression": "SET lock_payment_id = :pid, lock_until = :until",
                    "ConditionExpression": f"#s = :open AND {_FREE}",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": values(
                        pid=payment.payment_id, until=payment.lock_until, open="open", now=now_iso
                    ),
                }
            }
        )
    _transact(items)


def record_provider_ref(payment: Payment, ref: str, now_iso: str) -> None:
    """Keeps the provider's reference on the payment and as an item of its own (the callback's way in)."""
    name = table()
    _transact(
        [
            {
                "Put": {
                    "TableName": name,
                    "Item": to_ddb(
                        {
                            **keys.provider_ref(payment.backend, ref),
                            "kind": "provider_ref",
                            "payment_id": payment.payment_id,
                            "created_at": now_iso,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {
                "Update": {
                    "TableName": name,
                    "Key": to_ddb(keys.payment(payment.payment_id)),
                    "UpdateExpression": "SET provider_ref = :ref, updated_at = :now",
                    "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(provider_ref)",
                    "ExpressionAttributeValues": values(ref=ref, now=now_iso),
                }
            },
        ]
    )


def claim_check(payment_id: str, now_iso: str, not_since_iso: str) -> bool:
    """Takes the right to ask the provider about a pending payment: False if someone asked after `not_since_iso`."""
    try:
        client().update_item(
            TableName=table(),
            Key=to_ddb(keys.payment(payment_id)),
            UpdateExpression="SET checked_at = :now",
            ConditionExpression="#s = :pending AND (attribute_not_exists(checked_at) OR checked_at <= :since)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values(now=now_iso, since=not_since_iso, pending="pending"),
        )
    except AwsError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


@dataclass(frozen=True)
class InvoiceChange:
    """What settling a payment does to one of its invoices, given how it was read.

    `pay`: paid by this payment; `release`: this payment's lock removed; `hold`: locked for good (anomaly);
    `leave`: not touched, but checked still not to carry this payment's lock.
    """

    invoice: Invoice
    action: str


def settle(
    payment: Payment,
    from_status: str,
    to_status: str,
    changes: list[InvoiceChange],
    now_iso: str,
    event: dict[str, str],
    fields: dict[str, Any] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> None:
    """Moves the payment from `from_status` to `to_status` and changes its invoices, in one transaction.

    `fields`: attributes set on the payment (paid_at, transaction number, anomaly…); `extra`: transaction
    elements of other modules (the receipt in the mail outbox). Raises Conflict if anything changed since read.
    """
    name = table()
    sets = ["#s = :to", "updated_at = :now", "history = list_append(if_not_exists(history, :empty), :event)"]
    vals: dict[str, Any] = {"to": to_status, "from": from_status, "now": now_iso, "empty": [], "event": [event]}
    for n, (attr, value) in enumerate((fields or {}).items()):
        sets.append(f"{attr} = :f{n}")
        vals[f"f{n}"] = value
    removes: list[str] = []
    if to_status in _INDEXED_STATES:
        for attr, value in keys.payment_state_gsi2(to_status, payment.created_at, payment.payment_id).items():
            sets.append(f"{attr} = :{attr.lower()}")
            vals[attr.lower()] = value
    else:
        removes += ["GSI2PK", "GSI2SK"]
    update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": name,
                "Key": to_ddb(keys.payment(payment.payment_id)),
                "UpdateExpression": update,
                "ConditionExpression": "#s = :from",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values(**vals),
            }
        }
    ]
    paid_at = str((fields or {}).get("paid_at") or now_iso)
    for change in changes:
        items.append(_invoice_element(payment, change, now_iso, paid_at))
    items += extra or []
    _transact(items)


def _invoice_element(payment: Payment, change: InvoiceChange, now_iso: str, paid_at: str = "") -> dict[str, Any]:
    inv = change.invoice
    base: dict[str, Any] = {"TableName": table(), "Key": to_ddb(keys.invoice(inv.invoice_id))}
    pid = payment.payment_id
    if change.action == "pay":
        return {
            "Update": {
                **base,
                "UpdateExpression": "SET #s = :paid, paid_at = :at, paid_by = :pid, GSI1SK = :sk "
                "REMOVE lock_payment_id, lock_until",
                "ConditionExpression": _OPEN_FREE_OR_OURS,
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values(
                    paid="paid",
                    at=paid_at or now_iso,
                    pid=pid,
                    sk=keys.invoice_state_sk("paid", inv.issued_on, inv.reference),
                    open="open",
                    now=now_iso,
                ),
            }
        }
    if change.action == "hold":
        return {
            "Update": {
                **base,
                "UpdateExpression": "SET lock_payment_id = :pid, lock_until = :held",
                "ConditionExpression": _OPEN_FREE_OR_OURS,
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values(pid=pid, held=HELD_UNTIL, open="open", now=now_iso),
            }
        }
    if change.action == "release":
        return {
            "Update": {
                **base,
                "UpdateExpression": "REMOVE lock_payment_id, lock_until",
                "ConditionExpression": "lock_payment_id = :pid",
                "ExpressionAttributeValues": values(pid=pid),
            }
        }
    return {
        "ConditionCheck": {
            **base,
            "ConditionExpression": "attribute_not_exists(lock_payment_id) OR lock_payment_id <> :pid",
            "ExpressionAttributeValues": values(pid=pid),
        }
    }


def lift_hold(payment: Payment, now_iso: str, note: str) -> None:
    """Operations resolved an anomaly: its invoices are free again (the payment stays, marked resolved)."""
    name = table()
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": name,
                "Key": to_ddb(keys.payment(payment.payment_id)),
                "UpdateExpression": "SET resolved_at = :now, resolution = :note REMOVE GSI2PK, GSI2SK",
                "ConditionExpression": "#s = :anomaly",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values(now=now_iso, note=note, anomaly="anomaly"),
            }
        }
    ]
    current = invoices_of(payment.invoice_ids)
    for inv in current.values():
        if inv.lock_payment_id == payment.payment_id:
            items.append(_invoice_element(payment, InvoiceChange(inv, "release"), now_iso))
    _transact(items)


def refund(payment: Payment, paid_invoices: list[Invoice], now_iso: str, note: str, event: dict[str, str]) -> None:
    """Records a refund the trésorerie made: the payment becomes refunded and the invoices it paid reopen.

    One transaction: the payment must still be paid, and each invoice still paid by it (an invoice the régie
    changed since keeps its new state and is not in `paid_invoices`).
    """
    name = table()
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": name,
                "Key": to_ddb(keys.payment(payment.payment_id)),
                "UpdateExpression": "SET #s = :refunded, updated_at = :now, refunded_at = :now, refund_note = :note, "
                "history = list_append(if_not_exists(history, :empty), :event)",
                "ConditionExpression": "#s = :paid",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values(
                    refunded="refunded", now=now_iso, note=note, empty=[], event=[event], paid="paid"
                ),
            }
        }
    ]
    for inv in paid_invoices:
        items.append(
            {
                "Update": {
                    "TableName": name,
                    "Key": to_ddb(keys.invoice(inv.invoice_id)),
                    "UpdateExpression": "SET #s = :open, GSI1SK = :sk REMOVE paid_at, paid_by",
                    "ConditionExpression": "#s = :paid AND paid_by = :pid",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": values(
                        open="open",
                        paid="paid",
                        pid=payment.payment_id,
                        sk=keys.invoice_state_sk("open", inv.issued_on, inv.reference),
                    ),
                }
            }
        )
    _transact(items)


def settled_between(start_iso: str, end_iso: str) -> Iterator[tuple[list[Payment], int]]:
    """Pages of the paid (and since refunded) payments made in [start, end), with each page's scanned count.

    A Scan with a filter: the treasury export runs from a workstation, never on a request.
    """
    args: dict[str, Any] = {
        "TableName": table(),
        "FilterExpression": "kind = :k AND paid_at >= :a AND paid_at < :b AND #s IN (:paid, :refunded)",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": values(k="payment", a=start_iso, b=end_iso, paid="paid", refunded="refunded"),
    }
    while True:
        page = client().scan(**args)
        yield [from_item(from_ddb(raw)) for raw in page.get("Items", [])], int(page.get("ScannedCount", 0))
        if "LastEvaluatedKey" not in page:
            return
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

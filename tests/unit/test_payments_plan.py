"""What a provider result does to a payment, decided without AWS (payments.plan), and the receipt's text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from espace_famille import payments
from espace_famille.clock import iso
from espace_famille.dal.payments import HELD_UNTIL, PaidInvoice, Payment
from espace_famille.model import Invoice
from espace_famille.payfip import ProviderResult

T0 = datetime(2026, 9, 15, 8, 0, tzinfo=UTC)
PID = "a" * 26


def _invoice(n: int, **kw: object) -> Invoice:
    base = Invoice("C", "CANTINE", f"REF-{n}", "d", "D1", "F", "2026-09-01", "2026-10-01", 1000, "open",
                   lock_payment_id=PID, lock_until=iso(T0 + timedelta(minutes=20)))  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def _payment(status: str = "pending", n: int = 2) -> Payment:
    return Payment(
        payment_id=PID,
        reference=PID.upper(),
        account_id="acc",
        collectivite_id="C",
        regie_id="CANTINE",
        regie_name="Cantine",
        backend="payfip",
        numcli="000001",
        invoices=tuple(PaidInvoice(_invoice(i).invoice_id, f"REF-{i}", 1000) for i in range(n)),
        amount_cents=1000 * n,
        email="p@example.org",
        status=status,
        created_at=iso(T0),
        updated_at=iso(T0),
        lock_until=iso(T0 + timedelta(minutes=20)),
    )


def _paid(amount: int = 2000, refdet: str = PID.upper(), numcli: str = "000001") -> ProviderResult:
    return ProviderResult("paid", "P", amount, refdet, numcli, T0 + timedelta(minutes=3), "4242")


def _invoices(*invs: Invoice) -> dict[str, Invoice]:
    return {i.invoice_id: i for i in invs}


def test_paid_and_matching_pays_every_invoice():
    todo = payments.plan(_payment(), _paid(), _invoices(_invoice(0), _invoice(1)), T0 + timedelta(minutes=4))
    assert todo is not None and todo.to_status == "paid"
    assert [c.action for c in todo.changes] == ["pay", "pay"]
    assert todo.fields["paid_at"] == "2026-09-15T08:03:00.000000Z" and todo.fields["transaction_number"] == "4242"
    assert todo.fields["resultrans"] == "P"  # the provider's result code is kept for the treasury


@pytest.mark.parametrize(
    ("result", "words"),
    [
        (_paid(amount=1999), "amount 1999 instead of 2000"),
        (_paid(refdet="AUTRE1"), "refdet"),
        (_paid(numcli="000002"), "numcli"),
    ],
)
def test_a_mismatch_is_an_anomaly_holding_the_invoices(result, words):
    todo = payments.plan(_payment(), result, _invoices(_invoice(0), _invoice(1)), T0)
    assert todo is not None and todo.to_status == "anomaly" and words in todo.fields["anomaly"]
    assert [c.action for c in todo.changes] == ["hold", "hold"]


def test_an_invoice_paid_elsewhere_makes_an_anomaly_and_the_other_is_held():
    paid_elsewhere = _invoice(0, status="paid", paid_by="external", lock_payment_id=None, lock_until=None)
    todo = payments.plan(_payment(), _paid(), _invoices(paid_elsewhere, _invoice(1)), T0)
    assert todo is not None and todo.to_status == "anomaly"
    assert "already paid at the trésorerie" in todo.detail
    assert [c.action for c in todo.changes] == ["leave", "hold"]


def test_an_invoice_locked_by_another_live_payment_is_left_alone():
    other = _invoice(0, lock_payment_id="b" * 26, lock_until=iso(T0 + timedelta(hours=1)))
    todo = payments.plan(_payment(), _paid(), _invoices(other, _invoice(1)), T0)
    assert todo is not None and todo.to_status == "anomaly"
    assert [c.action for c in todo.changes] == ["leave", "hold"]


def test_another_payments_lock_is_over_at_its_lock_until():
    # lock_until is the first instant the invoice is free again (the same bound as not_payable_reason).
    ended = _invoice(0, lock_payment_id="b" * 26, lock_until=iso(T0 + timedelta(minutes=4)))
    todo = payments.plan(_payment(), _paid(), _invoices(ended, _invoice(1)), T0 + timedelta(minutes=4))
    assert todo is not None and todo.to_status == "paid"


def test_a_vanished_invoice_makes_an_anomaly_and_the_ones_after_it_are_still_held():
    todo = payments.plan(_payment(n=3), _paid(3000), _invoices(_invoice(1), _invoice(2)), T0)
    assert todo is not None and todo.to_status == "anomaly" and "REF-0 no longer exists" in todo.detail
    assert [(c.invoice.reference, c.action) for c in todo.changes] == [("REF-1", "hold"), ("REF-2", "hold")]


def test_a_held_invoice_of_another_anomaly_is_not_paid_again():
    held = _invoice(0, lock_payment_id="b" * 26, lock_until=HELD_UNTIL)
    todo = payments.plan(_payment(), _paid(), _invoices(held, _invoice(1)), T0 + timedelta(days=400))
    assert todo is not None and todo.to_status == "anomaly" and "held by anomaly" in todo.detail


@pytest.mark.parametrize("status", ["expired", "cancelled", "refused"])
def test_a_late_paid_result_is_applied_while_the_invoices_are_open_and_free(status):
    free = [_invoice(i, lock_payment_id=None, lock_until=None) for i in range(2)]
    todo = payments.plan(_payment(status), _paid(), _invoices(*free), T0 + timedelta(hours=1))
    assert todo is not None and todo.to_status == "paid"


@pytest.mark.parametrize("status", ["paid", "anomaly", "error"])
def test_final_payments_never_change(status):
    assert payments.plan(_payment(status), _paid(), _invoices(_invoice(0), _invoice(1)), T0) is None


@pytest.mark.parametrize(
    ("outcome", "minutes", "to"),
    [
        ("refused", 1, "refused"),
        ("abandoned", 1, "cancelled"),
        ("unknown", 1, "expired"),
        ("not_yet", 19, None),
        ("not_yet", 20, "expired"),
    ],
)
def test_results_other_than_paid(outcome, minutes, to):
    result = ProviderResult(outcome, "R" if outcome == "refused" else None)
    todo = payments.plan(_payment(), result, _invoices(_invoice(0), _invoice(1)), T0 + timedelta(minutes=minutes))
    assert (todo.to_status if todo else None) == to
    if todo:
        assert [c.action for c in todo.changes] == ["release", "release"]
    # Once settled locally, only money taken changes a payment.
    assert payments.plan(_payment("expired"), result, {}, T0 + timedelta(hours=1)) is None


def test_euros_and_receipt_in_french():
    assert payments.euros(2345) == "23,45 €"
    assert payments.euros(100_000_00) == "100\u202f000,00 €"
    subject, text = payments.receipt_text(_payment(), "2026-01-15T13:05:00.000000Z", "4242")
    assert subject == "Paiement enregistré — Cantine"
    assert "15/01/2026 à 14:05" in text and "20,00 €" in text and "REF-0 : 10,00 €" in text and "4242" in text

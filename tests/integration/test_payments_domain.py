"""Payment rules on moto with an injected clock and an in-process provider: initiation, results, expiry, anomalies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from espace_famille import invoices, payments
from espace_famille.clock import iso
from espace_famille.dal import catalog, keys, outbox
from espace_famille.dal import payments as store
from espace_famille.dal.table import get
from espace_famille.errors import NotFound, ValidationFailed
from espace_famille.model import Invoice
from tests.payments_support import FakeProvider, family, stored_invoice, stored_payment

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 15, 8, 0, tzinfo=UTC)
SITE = "https://famille.example"


def _start(fam, provider, ids=None, now=T0, email="parent@example.org") -> dict[str, Any]:
    """The 201's body, as the API sends it."""
    return payments.initiate(fam.account_id, ids or fam.ids, email, SITE, provider, now).model_dump(mode="json")


def _notify(provider, pid: str, now: datetime) -> store.Payment:
    return payments.notified({"IdOp": stored_payment(pid).provider_ref or ""}, provider, now)


def test_initiation_locks_the_invoices_and_asks_payfip_with_the_payments_own_reference(table):
    fam, provider = family(2, 1150), FakeProvider()
    created = _start(fam, provider)
    pid = created["payment_id"]
    assert created["amount_cents"] == 2300
    payment = stored_payment(pid)
    assert payment.status == "pending" and payment.provider_ref in created["redirect_url"]
    (asked,) = provider.created.values()
    assert asked["refdet"] == payment.reference and 6 <= len(asked["refdet"]) <= 30 and asked["refdet"].isalnum()
    assert asked["numcli"] == "000001" and asked["exer"] == 2026 and asked["saisie"] == "T"
    assert asked["urlnotif"] == f"{SITE}/webhooks/payfip"
    assert asked["urlredirect"] == f"{SITE}/paiement/retour?payment={pid}"
    assert asked["objet"].isascii() and len(asked["objet"]) <= 100
    for iid in fam.ids:
        inv = stored_invoice(iid)
        assert inv.lock_payment_id == pid and inv.lock_until == iso(T0 + payments.LOCK_DURATION)
        assert invoices.not_payable_reason(inv, None, iso(T0)) == "payment_in_progress"
    assert (get(keys.provider_ref("payfip", payment.provider_ref or "")) or {}).get("payment_id") == pid
    # Pending payments are where reconciliation looks.
    assert pid in [p.payment_id for p in store.in_state("pending", limit=1000)[0]]


@pytest.mark.parametrize(
    ("pick", "error"),
    [
        (lambda f: [f.invoices[0].invoice_id, f.other_regie_invoice.invoice_id], payments.SeveralRegies),
        (lambda f: [f.stranger_invoice.invoice_id], NotFound),
        (lambda f: ["a" * 26], NotFound),
        (lambda f: ["../../etc"], NotFound),
        (lambda f: [f.invoices[0].invoice_id] * 2, ValidationFailed),
        (lambda f: [f"{n:026d}".replace("0", "a").replace("1", "b")[:26] for n in range(51)], payments.TooManyInvoices),
    ],
)
def test_refused_initiations_leave_nothing_behind(table, pick, error):
    fam, provider = family(1), FakeProvider()
    with pytest.raises(error):
        _start(fam, provider, pick(fam))
    assert provider.created == {}
    assert all(stored_invoice(i).lock_payment_id is None for i in [*fam.ids, fam.other_regie_invoice.invoice_id])


def test_fifty_invoices_pass_the_count_check(table):
    # 50 is allowed: these unknown ids get past the count and fail on lookup, not as too many.
    fam = family(1)
    with pytest.raises(NotFound):
        _start(fam, FakeProvider(), [f"{n:026d}".replace("0", "a").replace("1", "b")[:26] for n in range(50)])


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        ("a@b.fr", True),
        ("a@b.f", False),
        ("x" * 69 + "@example.fr", True),  # 80 characters
        ("x" * 70 + "@example.fr", False),  # 81
        ("pas une adresse", False),
    ],
)
def test_email_length_is_checked_before_payfip(table, email, ok):
    fam, provider = family(1), FakeProvider()
    if ok:
        _start(fam, provider, email=email)
        assert len(provider.created) == 1
    else:
        with pytest.raises(ValidationFailed):
            _start(fam, provider, email=email)
        assert provider.created == {} and stored_invoice(fam.ids[0]).lock_payment_id is None


def test_amount_range(table):
    fam = family(1, amount=99)
    with pytest.raises(payments.AmountOutOfRange):
        _start(fam, FakeProvider())
    big = family(2, amount=50_000_01)
    with pytest.raises(payments.AmountOutOfRange):
        _start(big, FakeProvider())
    assert stored_invoice(big.ids[0]).lock_payment_id is None


@pytest.mark.parametrize("amounts", [(100,), (50_000_00, 50_000_00)])
def test_amount_range_bounds_are_payable(table, amounts):
    # 1,00 € and 100 000,00 € in total are both accepted.
    fam = family(len(amounts), amount=amounts[0])
    assert _start(fam, FakeProvider())["amount_cents"] == sum(amounts)


def test_paid_or_cancelled_or_not_online_is_not_payable(table):
    fam = family(1)
    catalog.put_all([Invoice(**{**fam.invoices[0].__dict__, "status": "paid", "paid_by": "external"})])
    with pytest.raises(payments.NotPayable):
        _start(fam, FakeProvider())
    fam = family(1)
    catalog.put_all([Invoice(**{**fam.invoices[0].__dict__, "status": "cancelled"})])
    with pytest.raises(payments.NotPayable):
        _start(fam, FakeProvider())
    fam = family(1, backend="none")
    with pytest.raises(payments.NotPayable):
        _start(fam, FakeProvider())


def test_provider_down_gives_503_an_error_payment_and_no_lock(table):
    fam, provider = family(2), FakeProvider(down=True)
    with pytest.raises(payments.ProviderDown):
        _start(fam, provider)
    assert all(stored_invoice(i).lock_payment_id is None for i in fam.ids)
    (mine,) = store.of_account(fam.account_id)
    assert mine.status == "error" and mine.provider_ref is None
    # And the invoices can be paid at once when the provider is back.
    provider.down = False
    assert _start(fam, provider)["amount_cents"] == 2000


def test_a_locked_invoice_answers_payment_in_progress_until_the_lock_runs_out(table):
    fam, provider = family(1), FakeProvider()
    first = _start(fam, provider)["payment_id"]
    with pytest.raises(payments.PaymentInProgress):
        _start(fam, provider, now=T0 + timedelta(minutes=19))
    second = _start(fam, provider, now=T0 + timedelta(minutes=20, seconds=1))["payment_id"]
    assert stored_invoice(fam.ids[0]).lock_payment_id == second != first


def test_paid_notification_applies_once(table):
    fam, provider = family(2, 1234), FakeProvider()
    pid = _start(fam, provider)["payment_id"]
    idop = stored_payment(pid).provider_ref or ""
    paid_at = T0 + timedelta(minutes=3, seconds=41)
    provider.settle(idop, "P", paid_at)
    for n in range(10):
        after = _notify(provider, pid, T0 + timedelta(minutes=4, seconds=n))
        assert after.status == "paid"
    # Once paid, later notifications do not even ask the provider.
    assert provider.result_calls == 1
    payment = stored_payment(pid)
    assert payment.paid_at == "2026-09-15T08:03:00.000000Z" and payment.transaction_number == "112233"
    assert [h["status"] for h in payment.history] == ["pending", "paid"]
    for iid in fam.ids:
        inv = stored_invoice(iid)
        assert (inv.status, inv.paid_by, inv.paid_at, inv.lock_payment_id) == ("paid", pid, payment.paid_at, None)
        assert (get(keys.invoice(iid)) or {}).get("GSI1SK", "").startswith("P#")
    assert pid not in [p.payment_id for p in store.in_state("pending", limit=1000)[0]]


@pytest.mark.parametrize(("code", "status"), [("R", "refused"), ("Z", "refused"), ("A", "cancelled")])
def test_refused_and_abandoned_release_the_locks_at_once(table, code, status):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)["payment_id"]
    provider.settle(stored_payment(pid).provider_ref or "", code, T0)
    assert _notify(provider, pid, T0 + timedelta(minutes=1)).status == status
    assert stored_invoice(fam.ids[0]).lock_payment_id is None
    assert _start(fam, provider, now=T0 + timedelta(minutes=2))["amount_cents"] == 1000


def test_not_yet_paid_expires_past_the_idops_life_and_unknown_expires(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)["payment_id"]
    assert _notify(provider, pid, T0 + timedelta(minutes=10)).status == "pending"
    assert stored_invoice(fam.ids[0]).lock_payment_id == pid
    assert _notify(provider, pid, T0 + timedelta(minutes=20)).status == "expired"
    assert stored_invoice(fam.ids[0]).lock_payment_id is None
    fam2 = family(1)
    pid2 = _start(fam2, provider)["payment_id"]
    provider.forgotten.add(stored_payment(pid2).provider_ref or "")
    assert _notify(provider, pid2, T0 + timedelta(minutes=1)).status == "expired"


def test_a_paid_result_after_local_expiry_is_applied_while_the_invoices_are_open(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)["payment_id"]
    assert _notify(provider, pid, T0 + timedelta(minutes=25)).status == "expired"
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0 + timedelta(minutes=14))
    assert _notify(provider, pid, T0 + timedelta(minutes=30)).status == "paid"
    assert stored_invoice(fam.ids[0]).paid_by == pid


def test_applying_on_a_stale_read_decides_again_from_the_stored_payment(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)["payment_id"]
    stale = stored_payment(pid)
    assert _notify(provider, pid, T0 + timedelta(minutes=25)).status == "expired"  # another caller, meanwhile
    idop = stale.provider_ref or ""
    provider.settle(idop, "P", T0 + timedelta(minutes=14))
    # The transaction from "pending" is cancelled: the payment is read again (expired) and the late money applied.
    after = payments.apply(stale, provider.result(idop), T0 + timedelta(minutes=30))
    assert after.status == "paid" and stored_payment(pid).status == "paid"
    assert [h["status"] for h in stored_payment(pid).history] == ["pending", "expired", "paid"]
    assert stored_invoice(fam.ids[0]).paid_by == pid


def test_amount_mismatch_is_an_anomaly_that_holds_the_invoices(table):
    fam, provider = family(2), FakeProvider(lie_amount=-1)
    pid = _start(fam, provider)["payment_id"]
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0)
    after = _notify(provider, pid, T0 + timedelta(minutes=1))
    assert after.status == "anomaly" and "amount 1999 instead of 2000" in (after.anomaly or "")
    for iid in fam.ids:
        inv = stored_invoice(iid)
        assert inv.status == "open" and invoices.not_payable_reason(inv, None, iso(T0)) == "being_checked"
    # Held whatever the time: a family is never asked to pay twice.
    with pytest.raises(payments.NotPayable):
        _start(fam, FakeProvider(), now=T0 + timedelta(days=30))
    assert pid in [p.payment_id for p in payments.anomalies()]
    # Operations resolve it: the invoices are free again, the payment stays.
    store.lift_hold(after, iso(T0 + timedelta(days=1)), "remboursé")
    assert stored_invoice(fam.ids[0]).lock_payment_id is None
    assert pid not in [p.payment_id for p in payments.anomalies()]


def test_paid_at_payfip_after_the_lock_ran_out_and_the_treasury_marked_it_paid_is_an_anomaly(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)["payment_id"]
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0 + timedelta(minutes=5))  # notification lost
    later = T0 + timedelta(hours=2)
    # The régie's export says the invoice was paid at the trésorerie.
    paid = Invoice(**{**stored_invoice(fam.ids[0]).__dict__, "status": "paid", "paid_by": "external"})
    assert catalog.replace_open_invoice(
        Invoice(**{**paid.__dict__, "lock_payment_id": None, "lock_until": None}), iso(later)
    )
    counts = payments.reconcile(provider, later)
    assert counts["anomaly"] >= 1
    after = stored_payment(pid)
    assert after.status == "anomaly" and "already paid at the trésorerie" in (after.anomaly or "")
    assert stored_invoice(fam.ids[0]).paid_by == "external"


def test_return_reads_ask_the_provider_at_most_every_ten_seconds(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)["payment_id"]
    for s in range(0, 30):
        payments.read(fam.account_id, pid, provider, T0 + timedelta(seconds=s))
    assert provider.result_calls == 3
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0)
    assert payments.read(fam.account_id, pid, provider, T0 + timedelta(seconds=40)).status == "paid"
    # Another account does not see it.
    with pytest.raises(NotFound):
        payments.read("someone-else", pid, provider, T0)


def test_reconciliation_resolves_lost_notifications(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)["payment_id"]
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0)
    payments.reconcile(provider, T0 + timedelta(minutes=5))
    assert stored_payment(pid).status == "paid"


def test_provider_down_during_reconciliation_keeps_the_payment_pending(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)["payment_id"]
    provider.down = True
    counts = payments.reconcile(provider, T0 + timedelta(minutes=30))
    assert counts["unavailable"] >= 1 and stored_payment(pid).status == "pending"


def test_the_receipt_is_written_with_the_paid_result_only(table):
    fam, provider = family(2, 1150), FakeProvider()
    pid = _start(fam, provider)["payment_id"]
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0)
    sent: list[str] = []

    def receipt(payment, fields, now):
        elements, release = payments.mail_receipt(payment, fields, now)

        def after() -> None:
            sent.append(payment.payment_id)
            release()

        return elements, after

    idop = stored_payment(pid).provider_ref or ""
    for _ in range(5):
        payments.notified({"idop": idop}, provider, T0, receipt)
    assert sent == [pid]
    stored = outbox.get(f"receipt-{pid}")
    assert stored is not None and stored["to"] == "parent@example.org" and "23,00 €" in stored["text"]
    subject, text = payments.receipt_text(stored_payment(pid), "2026-09-15T08:03:00.000000Z", "112233")
    assert "Restauration scolaire" in subject
    assert "23,00 €" in text and "15/09/2026 à 10:03" in text and "112233" in text
    assert all(i.reference in text for i in fam.invoices)


def test_forged_notifications(table):
    provider = FakeProvider()
    for params in ({}, {"idop": ""}, {"idop": "x" * 5000}, {"idop": "<script>"}):
        with pytest.raises(ValidationFailed):
            payments.notified(params, provider, T0)
    with pytest.raises(NotFound):
        payments.notified({"idop": "0" * 8 + "-0000-0000-0000-" + "0" * 12}, provider, T0)
    assert provider.result_calls == 0


def test_with_the_emulator_paid_notification_lost_lock_expired_then_paid_at_the_tresorerie_is_an_anomaly(table, stack):
    """The same story with PayFiP's real client against the emulator; the domain's clock jumps past the lock."""
    from espace_famille.payfip import PayfipClient, PayfipEndpoints

    emulator = stack.payfip
    emulator.configure(notifications="drop", fault=None)
    try:
        client = PayfipClient(PayfipEndpoints(emulator.service_url, emulator.page_url), timeout=5)
        fam = family(1)
        now = datetime.now(UTC)
        pid = _start(fam, client, now=now)["payment_id"]
        emulator.settle(stored_payment(pid).provider_ref, "P", notify=False)
        later = now + timedelta(minutes=45)
        assert invoices.not_payable_reason(stored_invoice(fam.ids[0]), None, iso(later)) != "payment_in_progress"
        paid = Invoice(**{**stored_invoice(fam.ids[0]).__dict__, "status": "paid", "paid_by": "external"})
        assert catalog.replace_open_invoice(paid, iso(later))
        payments.reconcile(client, later)
        after = stored_payment(pid)
        assert after.status == "anomaly" and "already paid at the trésorerie" in (after.anomaly or "")
        assert after.transaction_number  # what PayFiP said is kept for the trésorerie
    finally:
        emulator.configure(notifications="deliver")


def test_reconciliation_stops_when_out_of_time_or_budget(table):
    fam, provider = family(3), FakeProvider()
    for iid in fam.ids:
        _start(fam, provider, ids=[iid])
    asked = provider.result_calls
    assert payments.reconcile(provider, T0 + timedelta(minutes=1), out_of_time=lambda: True) == {
        "checked": 0,
        "unavailable": 0,
    }
    assert provider.result_calls == asked
    counts = payments.reconcile(provider, T0 + timedelta(minutes=2), budget=2)
    assert counts["checked"] + counts["unavailable"] == 2

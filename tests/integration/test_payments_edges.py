"""Payment rules at their exact boundaries (on moto, injected clock): the 10 s between two provider questions,
expiry of a payment PayFiP never answered, the notification's form, reconciliation's budget and paging, receipts.
"""

from __future__ import annotations

import base64
import csv
import inspect
import io
from datetime import UTC, datetime, timedelta

import pytest

from espace_famille import csvsafe, invoices, mail, payments, treasury
from espace_famille.clock import iso
from espace_famille.dal import catalog, outbox
from espace_famille.dal import payments as store
from espace_famille.errors import NotFound, ValidationFailed
from espace_famille.model import Invoice
from tests.payments_support import FakeProvider, family, stored_invoice, stored_payment

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 15, 8, 0, tzinfo=UTC)
SITE = "https://famille.example"


def _start(fam, provider, now=T0, ids=None) -> str:
    return payments.initiate(fam.account_id, ids or fam.ids, "parent@example.org", SITE, provider, now).payment_id


def test_the_provider_is_asked_again_exactly_ten_seconds_after_the_last_question(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)
    payments.read(fam.account_id, pid, provider, T0)
    assert provider.result_calls == 1
    payments.read(fam.account_id, pid, provider, T0 + timedelta(seconds=9, microseconds=999_000))
    assert provider.result_calls == 1
    payments.read(fam.account_id, pid, provider, T0 + timedelta(seconds=10))
    assert provider.result_calls == 2


def test_a_lock_is_over_at_its_lock_until_exactly(table):
    fam, provider = family(1), FakeProvider()
    first = _start(fam, provider)
    lock_until = stored_payment(first).lock_until or ""
    assert lock_until == "2026-09-15T08:20:00.000000Z"
    with pytest.raises(payments.PaymentInProgress):
        _start(fam, provider, now=T0 + timedelta(minutes=19, seconds=59))
    second = _start(fam, provider, now=T0 + timedelta(minutes=20))
    assert second != first


class _DiesAtCreation(FakeProvider):
    """The function died while PayFiP was creating the page: the payment is pending with no idop."""

    def create_payment(self, **kw):
        raise RuntimeError("the function timed out")


def test_a_payment_the_provider_never_answered_expires_twenty_minutes_after_its_creation(table):
    fam, provider = family(1), FakeProvider()
    with pytest.raises(RuntimeError):
        _start(fam, _DiesAtCreation())
    (orphan,) = store.of_account(fam.account_id)
    assert orphan.status == "pending" and orphan.provider_ref is None
    pid = orphan.payment_id
    before = T0 + timedelta(minutes=19, seconds=59, microseconds=999_999)
    assert payments.refresh(orphan, provider, before).status == "pending"
    assert payments.read(fam.account_id, pid, provider, before).status == "pending"
    after = payments.refresh(orphan, provider, T0 + timedelta(minutes=20))
    assert after.status == "expired" and stored_payment(pid).status == "expired"
    assert provider.result_calls == 0  # there was nothing to ask
    assert _start(fam, provider, now=T0 + timedelta(minutes=21))


def test_a_settled_payment_is_not_refreshed(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)
    provider.settle(stored_payment(pid).provider_ref or "", "A", T0)
    cancelled = payments.refresh(stored_payment(pid), provider, T0 + timedelta(minutes=1))
    assert cancelled.status == "cancelled" and provider.result_calls == 1
    assert payments.refresh(cancelled, provider, T0 + timedelta(hours=1)) is cancelled
    assert payments.read(fam.account_id, pid, provider, T0 + timedelta(hours=1)).status == "cancelled"
    assert provider.result_calls == 1


def test_an_unthrottled_refresh_asks_every_time(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)
    for _ in range(3):
        assert payments.refresh(stored_payment(pid), provider, T0, throttle=False).status == "pending"
    assert provider.result_calls == 3


def test_notification_fields_come_from_the_query_and_the_form_body():
    assert payments.notification_params({"a": "1"}, "idop=XYZ&empty=", False) == {"a": "1", "idop": "XYZ", "empty": ""}
    assert payments.notification_params({}, None, False) == {}
    encoded = base64.b64encode(b"idop=XYZ").decode()
    assert payments.notification_params({}, encoded, True) == {"idop": "XYZ"}
    assert payments.notification_params({}, "", True) == {}
    twenty = "&".join(f"f{n}=v" for n in range(20))
    assert len(payments.notification_params({}, twenty, False)) == 20
    # Parsing is lenient: a field without "=" is read as empty, it does not hide the idop.
    assert payments.notification_params({}, "idop=XYZ&flag", False) == {"idop": "XYZ", "flag": ""}
    for body, b64 in (
        (twenty + "&f20=v", False),
        ("not base64!", True),
        (base64.b64encode(b"\xff").decode(), True),
        (encoded[:4] + "*" + encoded[4:], True),  # base64 with a stray character is refused, not cleaned up
    ):
        with pytest.raises(ValidationFailed):
            payments.notification_params({}, body, b64)


def test_a_notification_for_a_settled_payment_asks_nothing(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)
    idop = stored_payment(pid).provider_ref or ""
    provider.settle(idop, "P", T0)
    assert payments.notified({"idop": idop}, provider, T0 + timedelta(minutes=1)).status == "paid"
    again = payments.notified({"idop": idop}, provider, T0 + timedelta(minutes=2))
    assert again.status == "paid" and again.payment_id == pid and provider.result_calls == 1
    # A refused payment is not final: a later paid result still applies (money taken after all).
    fam2 = family(1)
    pid2 = _start(fam2, provider)
    idop2 = stored_payment(pid2).provider_ref or ""
    provider.settle(idop2, "R", T0)
    assert payments.notified({"idop": idop2}, provider, T0 + timedelta(minutes=1)).status == "refused"
    provider.settle(idop2, "P", T0 + timedelta(minutes=2))
    assert payments.notified({"idop": idop2}, provider, T0 + timedelta(minutes=3)).status == "paid"


def test_amounts_in_euros():
    assert payments.euros(0) == "0,00 €"
    assert payments.euros(5) == "0,05 €"
    assert payments.euros(2345) == "23,45 €"
    assert payments.euros(123_450) == "1\u202f234,50 €"
    assert payments.euros(10_000_000) == "100\u202f000,00 €"


def test_a_payment_as_the_parent_sees_it(table):
    fam, provider = family(2, 1150), FakeProvider()
    pid = _start(fam, provider)
    pending = payments.read(fam.account_id, pid, provider, T0)
    assert pending.model_dump(mode="json") == {
        "payment_id": pid,
        "status": "pending",
        "amount_cents": 2300,
        "collectivite_id": fam.cid,
        "regie_id": "CANTINE",
        "regie_name": "Restauration scolaire",
        "reference": pid.upper(),
        "invoices": [{"id": i.invoice_id, "reference": i.reference, "amount_cents": 1150} for i in fam.invoices],
        "created_at": "2026-09-15T08:00:00.000000Z",
        "paid_at": None,
        "transaction_number": None,
    }
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0 + timedelta(minutes=3))
    paid = payments.read(fam.account_id, pid, provider, T0 + timedelta(minutes=4))
    assert (paid.status, paid.paid_at, paid.transaction_number) == (
        "paid",
        "2026-09-15T08:03:00.000000Z",
        "112233",
    )
    assert payments.list_payments(fam.account_id).payments == [paid]
    assert payments.list_payments("nobody").payments == []
    for account, payment_id in ((fam.account_id, "not-an-id!"), ("nobody", pid), (fam.account_id, "a" * 26)):
        with pytest.raises(NotFound):
            payments.own_payment(account, payment_id)
    assert payments.own_payment(fam.account_id, pid).payment_id == pid


def test_a_provider_down_at_a_return_read_answers_the_payment_as_stored(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)
    provider.down = True
    assert payments.read(fam.account_id, pid, provider, T0 + timedelta(minutes=1)).status == "pending"


def _paid_elsewhere_meanwhile(invoice_id: str, calls: list[int]):
    """A receipt hook (it runs between the decision and the transaction) in which the trésorerie marks an
    invoice paid: the transaction must be refused by its conditions, and the result decided again."""

    def receipt(payment, fields, now):
        calls.append(1)
        if len(calls) == 1:
            paid = Invoice(**{**stored_invoice(invoice_id).__dict__, "status": "paid", "paid_by": "external"})
            assert catalog.replace_open_invoice(
                Invoice(**{**paid.__dict__, "lock_payment_id": None, "lock_until": None}), iso(now)
            )
        return [], lambda: None

    return receipt


def test_an_invoice_paid_at_the_tresorerie_between_decision_and_transaction_makes_an_anomaly(table):
    fam, provider = family(2), FakeProvider()
    pid = _start(fam, provider)
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0)
    calls: list[int] = []
    hook = _paid_elsewhere_meanwhile(fam.ids[1], calls)
    # Notified once the lock ran out (the trésorerie's import does not touch a locked invoice).
    after = payments.notified(
        {"idop": stored_payment(pid).provider_ref or ""}, provider, T0 + timedelta(minutes=30), hook
    )
    assert calls == [1]
    assert after.status == "anomaly" and stored_payment(pid).status == "anomaly"
    assert stored_invoice(fam.ids[1]).paid_by == "external"
    assert stored_invoice(fam.ids[0]).status == "open"  # held, not paid: the trésorerie decides
    assert invoices.not_payable_reason(stored_invoice(fam.ids[0]), None, iso(T0 + timedelta(days=9))) == "being_checked"


def test_a_result_whose_transaction_is_always_cancelled_is_tried_four_times_then_answers_503(table):
    provider = FakeProvider()
    # A mail id stored already (by a first payment's receipt): an element that puts it again cancels every
    # transaction it is part of.
    fam0 = family(1)
    pid0 = _start(fam0, provider)
    provider.settle(stored_payment(pid0).provider_ref or "", "P", T0)
    duplicate = mail.outbox_put(f"dup-{pid0}", "parent@example.org", "s", "t", T0)
    payments.notified(
        {"idop": stored_payment(pid0).provider_ref or ""}, provider, T0, lambda p, f, n: ([duplicate], lambda: None)
    )
    assert outbox.get(f"dup-{pid0}") is not None
    fam = family(1)
    pid = _start(fam, provider)
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0)
    tries: list[int] = []

    def receipt(payment, fields, now):
        tries.append(1)
        return [duplicate], lambda: None

    with pytest.raises(payments.ProviderDown):
        payments.notified(
            {"idop": stored_payment(pid).provider_ref or ""}, provider, T0 + timedelta(minutes=1), receipt
        )
    assert len(tries) == 4
    assert stored_payment(pid).status == "pending" and stored_invoice(fam.ids[0]).lock_payment_id == pid


def test_a_payfip_call_gives_up_before_the_function_that_makes_it_is_stopped():
    """Room is left to record the outcome (an error payment, a 503) or, for reconciliation, to stop cleanly."""
    from infra.cfn import load_template
    from tests.support import ROOT

    tpl = load_template(ROOT / "template.yaml", {"SiteUrl": "http://127.0.0.1:3000"})
    callers = [f for f in tpl.functions.values() if f.code_uri.name in ("payments", "payfip_webhook", "reconcile")]
    assert len(callers) == 3
    assert all(payments.PROVIDER_TIMEOUT_S > 0 and f.timeout > payments.PROVIDER_TIMEOUT_S + 5 for f in callers)


def test_reconciliation_counts_each_pending_payment_once(table):
    payments.reconcile(FakeProvider(), T0 + timedelta(days=3))  # the module's earlier payments expire
    fam, provider = family(5), FakeProvider()
    pids = [_start(fam, provider, ids=[iid]) for iid in fam.ids[:3]]
    provider.settle(stored_payment(pids[0]).provider_ref or "", "P", T0)
    provider.settle(stored_payment(pids[1]).provider_ref or "", "R", T0)
    asked = provider.result_calls
    # (A budget above what is pending: the run stops at the last page, not at the budget.)
    counts = payments.reconcile(provider, T0 + timedelta(minutes=1), budget=10)
    assert counts == {"checked": 3, "unavailable": 0, "paid": 1, "refused": 1, "pending": 1}
    assert provider.result_calls == asked + 3
    assert payments.reconcile(provider, T0 + timedelta(minutes=1, seconds=5), budget=10) == {
        "checked": 1,
        "unavailable": 0,
        "pending": 1,
    }
    assert provider.result_calls == asked + 3  # asked 5 s ago: not again
    provider.down = True
    assert payments.reconcile(provider, T0 + timedelta(minutes=2)) == {"checked": 0, "unavailable": 1}
    # Unanswered questions count toward the budget as well.
    provider.down = False
    for iid in fam.ids[3:]:
        _start(fam, provider, ids=[iid])
    provider.down = True
    assert payments.reconcile(provider, T0 + timedelta(minutes=3), budget=2) == {"checked": 0, "unavailable": 2}


def test_a_long_anomaly_is_kept_whole_and_its_history_line_cut_at_500_characters(table):
    fam, provider = family(12), FakeProvider()
    pid = _start(fam, provider)
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0 + timedelta(minutes=5))
    later = T0 + timedelta(hours=1)
    for iid in fam.ids:  # the trésorerie's export, once the lock ran out
        paid = Invoice(**{**stored_invoice(iid).__dict__, "status": "paid", "paid_by": "external"})
        assert catalog.replace_open_invoice(
            Invoice(**{**paid.__dict__, "lock_payment_id": None, "lock_until": None}), iso(later)
        )
    after = payments.notified({"idop": stored_payment(pid).provider_ref or ""}, provider, later)
    assert after.status == "anomaly" and len(after.anomaly or "") > 500
    assert all(f"{i.reference} already paid at the trésorerie" in (after.anomaly or "") for i in fam.invoices)
    stored = stored_payment(pid)
    assert stored.anomaly == after.anomaly
    assert stored.history[-1]["detail"] == (after.anomaly or "")[:500]
    assert pid in [p.payment_id for p in payments.anomalies()]


def _anomaly() -> str:
    """A payment paid at PayFiP for an invoice the trésorerie's export marked paid meanwhile."""
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0 + timedelta(minutes=5))
    later = T0 + timedelta(hours=1)
    paid = Invoice(**{**stored_invoice(fam.ids[0]).__dict__, "status": "paid", "paid_by": "external"})
    assert catalog.replace_open_invoice(
        Invoice(**{**paid.__dict__, "lock_payment_id": None, "lock_until": None}), iso(later)
    )
    assert payments.notified({"idop": stored_payment(pid).provider_ref or ""}, provider, later).status == "anomaly"
    return pid


def test_the_anomalies_of_every_page_are_listed(table, monkeypatch):
    pids = {_anomaly(), _anomaly()}
    real = store.in_state
    with monkeypatch.context() as one_a_page:
        one_a_page.setattr(store, "in_state", lambda state, limit, start: real(state, limit=1, start=start))
        paged = [p.payment_id for p in payments.anomalies()]
    assert pids <= set(paged)
    assert [p.payment_id for p in payments.anomalies()] == paged  # the same, oldest first, in pages of 100


def _paid(fam, provider, ids, at: datetime) -> str:
    pid = _start(fam, provider, ids=ids, now=at - timedelta(minutes=1))
    provider.settle(stored_payment(pid).provider_ref or "", "P", at)
    assert payments.notified({"idop": stored_payment(pid).provider_ref or ""}, provider, at).status in (
        "paid",
        "anomaly",
    )
    return pid


def test_a_refund_reopens_the_invoices_the_payment_paid_once(table):
    fam, provider = family(2), FakeProvider()
    pid = _paid(fam, provider, fam.ids, T0)
    done = treasury.refund(pid, " virement 12 ", T0 + timedelta(days=1))
    assert done.reopened == sorted(i.reference for i in fam.invoices)
    refunded = stored_payment(pid)
    assert (refunded.status, refunded.history[-1]["detail"]) == ("refunded", "virement 12")
    for iid in fam.ids:
        inv = stored_invoice(iid)
        assert (inv.status, inv.paid_by, inv.paid_at) == ("open", None, None)
    for bad_id, note in ((pid, "deux fois"), ("unknown", "x"), (pid, " ")):
        with pytest.raises(treasury.RefundRefused):
            treasury.refund(bad_id, note, T0 + timedelta(days=2))
    assert stored_payment(pid).status == "refunded"


def test_the_treasury_export_takes_the_paid_and_refunded_payments_of_the_period_only(table):
    fam, provider = family(6), FakeProvider()
    start = T0 + timedelta(days=10)
    before = _paid(fam, provider, fam.ids[5:6], start - timedelta(minutes=1))  # the day before the period
    first = _paid(fam, provider, fam.ids[:1], start)  # paid at the period's first instant
    refunded = _paid(fam, provider, fam.ids[1:2], start + timedelta(minutes=1))
    treasury.refund(refunded, "virement", start + timedelta(minutes=2))
    last = _paid(fam, provider, fam.ids[2:3], start + timedelta(minutes=2))  # the period's end: excluded
    liar = FakeProvider(lie_amount=-1)
    anomaly = _paid(fam, liar, fam.ids[3:4], start + timedelta(minutes=1))
    assert stored_payment(anomaly).status == "anomaly" and stored_payment(anomaly).paid_at
    _start(fam, provider, ids=fam.ids[4:5], now=start)  # pending
    regie = (fam.cid, "CANTINE")
    text = treasury.export(start, start + timedelta(minutes=2), regie)[regie]
    rows = list(csv.reader(io.StringIO(text), delimiter=csvsafe.DELIMITER))[1:]
    assert [(r[1], r[-1]) for r in rows] == [
        (stored_payment(first).reference, "payé"),
        (stored_payment(refunded).reference, "remboursé"),
    ]
    wider = treasury.export(start, start + timedelta(minutes=2, microseconds=1), regie)[regie]
    assert stored_payment(last).reference in wider and stored_payment(before).reference not in wider
    previous = treasury.export(start - timedelta(days=1), start, regie)[regie]
    assert [r[1] for r in csv.reader(io.StringIO(previous), delimiter=csvsafe.DELIMITER)][1:] == [
        stored_payment(before).reference
    ]


def test_a_paid_result_for_an_invoice_another_payment_locked_meanwhile_is_an_anomaly_that_leaves_that_lock(table):
    fam, provider = family(2), FakeProvider()
    first = _start(fam, provider)
    provider.settle(stored_payment(first).provider_ref or "", "P", T0 + timedelta(minutes=5))  # notification lost
    later = T0 + timedelta(minutes=25)  # the first lock ran out: the parent pays the second invoice again
    second = _start(fam, provider, now=later, ids=fam.ids[1:])
    after = payments.notified(
        {"idop": stored_payment(first).provider_ref or ""}, provider, later + timedelta(minutes=1)
    )
    assert after.status == "anomaly" and f"locked by payment {second}" in (after.anomaly or "")
    assert stored_invoice(fam.ids[1]).lock_payment_id == second  # left to the second payment
    assert stored_invoice(fam.ids[0]).lock_payment_id == first  # held for the trésorerie


def test_a_refresh_from_a_stale_pending_read_does_not_ask_the_provider_about_a_settled_payment(table):
    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)
    stale = stored_payment(pid)
    provider.settle(stale.provider_ref or "", "A", T0)
    assert payments.notified({"idop": stale.provider_ref or ""}, provider, T0).status == "cancelled"
    asked = provider.result_calls
    assert payments.refresh(stale, provider, T0 + timedelta(minutes=1)) is stale
    assert provider.result_calls == asked and stored_payment(pid).status == "cancelled"


def test_a_reconciliation_run_asks_about_200_pending_payments_at_most():
    # What a budget does is tested above with a small one; this is the run's documented figure.
    assert inspect.signature(payments.reconcile).parameters["budget"].default == 200


def test_a_receipt_is_queued_as_soon_as_the_payment_is_paid(table):
    from tests.integration.test_expiry import _deliver_queued_mails

    fam, provider = family(1), FakeProvider()
    pid = _start(fam, provider)
    provider.settle(stored_payment(pid).provider_ref or "", "P", T0)
    payments.notified({"idop": stored_payment(pid).provider_ref or ""}, provider, T0, payments.mail_receipt)
    _deliver_queued_mails()  # what the mail function does with the queue, without waiting for the sweep
    stored = outbox.get(f"receipt-{pid}")
    assert stored is not None and stored["state"] == "sent" and stored["to"] == "parent@example.org"

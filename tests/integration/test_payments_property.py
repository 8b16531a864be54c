"""A stateful property test of payments: any interleaving of initiations, provider outcomes, notifications,
return reads, reconciliations, imports of invoices paid at the trésorerie and clock jumps.

Whatever the sequence: no invoice is paid twice, no settled payment keeps a lock, and no paid result is lost.
The domain runs in-process against moto with an injected clock; the provider is in-process too and keeps
PayFiP's rule that a payment page is only usable during the idop's 15 minutes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from espace_famille import payments
from espace_famille.clock import iso, parse_iso
from espace_famille.dal import catalog
from espace_famille.dal import payments as store
from espace_famille.dal.payments import HELD_UNTIL
from espace_famille.errors import DomainError
from espace_famille.model import Invoice
from tests.payments_support import FakeProvider, family

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 15, 8, 0, tzinfo=UTC)
N_INVOICES = 2


class PaymentsMachine(RuleBasedStateMachine):
    payment_ids = Bundle("payment_ids")

    def __init__(self) -> None:
        super().__init__()
        self.fam = family(N_INVOICES)
        self.provider = FakeProvider()
        self.now = T0
        self.created: list[str] = []

    # -- what a parent, PayFiP and the trésorerie do ------------------------------------------------------
    @rule(target=payment_ids, picks=st.lists(st.integers(0, N_INVOICES - 1), min_size=1, max_size=3, unique=True))
    def initiate(self, picks: list[int]) -> str:
        ids = [self.fam.ids[i] for i in picks]
        try:
            created = payments.initiate(self.fam.account_id, ids, "p@example.org", "https://s", self.provider, self.now)
        except (payments.PaymentInProgress, payments.NotPayable, payments.ProviderDown):
            return ""
        self.created.append(created.payment_id)
        return created.payment_id

    @rule(pid=payment_ids, code=st.sampled_from("PPRA"))
    def pay_at_payfip(self, pid: str, code: str) -> None:
        payment = store.get_payment(pid, consistent=True) if pid else None
        if payment is None or not payment.provider_ref or payment.provider_ref in self.provider.settled:
            return
        if self.now - parse_iso(payment.created_at) > payments.IDOP_LIFE:
            return  # the page is dead
        self.provider.settle(payment.provider_ref, code, self.now)

    @rule(pid=payment_ids)
    def notification(self, pid: str) -> None:
        payment = store.get_payment(pid, consistent=True) if pid else None
        if payment and payment.provider_ref:
            self._tolerant(lambda: payments.notified({"idop": payment.provider_ref or ""}, self.provider, self.now))

    @rule(pid=payment_ids)
    def return_read(self, pid: str) -> None:
        if pid:
            self._tolerant(lambda: payments.read(self.fam.account_id, pid, self.provider, self.now))

    @rule()
    def reconciliation(self) -> None:
        payments.reconcile(self.provider, self.now)

    @rule(i=st.integers(0, N_INVOICES - 1))
    def import_paid_at_the_tresorerie(self, i: int) -> None:
        """The importer's rule: an open invoice no live payment holds may become paid (by the régie's file)."""
        old = self._invoice(self.fam.ids[i])
        if old.status != "open" or old.locked_at(iso(self.now)):
            return
        paid = replace(old, status="paid", paid_by="external", paid_at=iso(self.now))
        catalog.replace_open_invoice(paid, iso(self.now))

    @rule(minutes=st.sampled_from([1, 4, 9, 16, 21, 60]))
    def clock_jump(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule()
    def provider_flaps(self) -> None:
        self.provider.down = not self.provider.down

    def _tolerant(self, call: Callable[[], object]) -> None:
        with contextlib.suppress(DomainError, payments.ProviderUnavailable):
            call()

    def _invoice(self, invoice_id: str) -> Invoice:
        found = catalog.lookup(invoices=[invoice_id], consistent=True).invoice(invoice_id)
        assert found is not None
        return found

    def _payments(self) -> dict[str, store.Payment]:
        out = {}
        for pid in self.created:
            p = store.get_payment(pid, consistent=True)
            assert p is not None
            out[pid] = p
        return out

    def _money_taken(self, p: store.Payment) -> bool:
        return bool(p.provider_ref and self.provider.settled.get(p.provider_ref, ("",))[0] == "P")

    # -- what must hold after every step -----------------------------------------------------------------------
    @invariant()
    def never_paid_twice_and_no_stray_lock(self) -> None:
        all_payments = self._payments()
        for iid in self.fam.ids:
            inv = self._invoice(iid)
            paid_by_us = [p for p in all_payments.values() if p.status == "paid" and iid in p.invoice_ids]
            assert len(paid_by_us) <= 1, f"{iid} paid by {[p.payment_id for p in paid_by_us]}"
            if paid_by_us:
                assert inv.status == "paid" and inv.paid_by == paid_by_us[0].payment_id
            if inv.lock_payment_id:
                holder = all_payments[inv.lock_payment_id]
                assert holder.status in ("pending", "anomaly"), f"lock left by a {holder.status} payment"
                if holder.status == "anomaly":
                    assert inv.lock_until == HELD_UNTIL
        for p in all_payments.values():
            if self._money_taken(p):
                assert p.status in ("pending", "paid", "anomaly"), f"money taken, payment {p.status}"

    def teardown(self) -> None:
        # Then everything settles: PayFiP answers again and reconciliation runs until nothing is pending.
        self.provider.down = False
        for _ in range(3):
            self.now += timedelta(hours=1)
            payments.reconcile(self.provider, self.now)
        for p in self._payments().values():
            assert p.status != "pending"
            if self._money_taken(p):
                assert p.status in ("paid", "anomaly"), f"a paid result lost: {p.status}"


def test_no_sequence_pays_twice_leaves_a_lock_or_loses_a_paid_result(table):
    run_state_machine_as_test(
        PaymentsMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

"""The reasons an invoice is not payable online (no AWS)."""

from __future__ import annotations

from espace_famille import invoices
from espace_famille.model import Invoice, Regie

NOW = "2026-09-15T08:00:00.000000Z"


def _invoice(**changes) -> Invoice:
    base = Invoice(
        collectivite_id="C1",
        regie_id="R1",
        reference="F-1",
        key_digest="0" * 64,
        debtor_id="D1",
        debtor_name="Famille",
        issued_on="2026-09-01",
        due_on="2026-10-01",
        amount_cents=1000,
        status="open",
    )
    return Invoice(**{**base.__dict__, **changes})


def test_reasons_an_invoice_is_not_payable_online():
    payfip = Regie("C1", "R1", "Cantine", "payfip", {"numcli": "000001"})
    assert invoices.not_payable_reason(_invoice(), payfip, NOW) is None
    assert invoices.not_payable_reason(_invoice(), None, NOW) == "regie_not_payable_online"
    for regie in (
        Regie("C1", "R1", "Cantine", "none", {"numcli": "000001"}),
        Regie("C1", "R1", "Cantine", "payfip", {"numcli": "12345"}),
        Regie("C1", "R1", "Cantine", "payfip", {}),
    ):
        assert invoices.not_payable_reason(_invoice(), regie, NOW) == "regie_not_payable_online"
    held = _invoice(lock_payment_id="p1", lock_until=invoices.HELD_UNTIL)
    assert invoices.not_payable_reason(held, payfip, NOW) == "being_checked"
    locked = _invoice(lock_payment_id="p1", lock_until="2026-09-15T08:20:00.000000Z")
    assert invoices.not_payable_reason(locked, payfip, NOW) == "payment_in_progress"
    assert invoices.not_payable_reason(_invoice(status="paid"), payfip, NOW) == "paid"

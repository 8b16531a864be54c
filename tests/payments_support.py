"""Helpers of the payment tests: a family with invoices on moto, and an in-process provider with PayFiP's rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from espace_famille.clock import PARIS
from espace_famille.dal import catalog, links
from espace_famille.dal import payments as payment_store
from espace_famille.model import Collectivite, Invoice, Link, Regie, invoice_id, key_digest, link_id
from espace_famille.payfip import ProviderResult, ProviderUnavailable

_OUTCOMES = {"P": "paid", "V": "paid", "R": "refused", "Z": "refused", "A": "abandoned"}


@dataclass
class FakeProvider:
    """PayFiP as the domain sees it: payments created, settled by the test, results asked by idop.

    `lie_amount`: the amount the provider reports differs from what was asked (an anomaly to detect).
    """

    down: bool = False
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    settled: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    result_calls: int = 0
    lie_amount: int = 0

    def create_payment(self, **kw: Any) -> str:
        if self.down:
            raise ProviderUnavailable("TechIndisponibiliteErreur")
        idop = str(uuid.uuid4())
        self.created[idop] = kw
        return idop

    def page_url(self, idop: str) -> str:
        return f"https://payfip.example/tpa/paiementws.web?idop={idop}"

    def settle(self, idop: str, resultrans: str, at: datetime) -> None:
        self.settled[idop] = (resultrans, at)

    def result(self, idop: str) -> ProviderResult:
        self.result_calls += 1
        if self.down:
            raise ProviderUnavailable("TechIndisponibiliteErreur")
        if idop not in self.created or idop in self.forgotten:
            return ProviderResult("unknown", None, None, None, None, None, None)
        if idop not in self.settled:
            return ProviderResult("not_yet", None, None, None, None, None, None)
        code, at = self.settled[idop]
        asked = self.created[idop]
        # PayFiP gives the date to the minute, in Paris time.
        minute = at.astimezone(PARIS).replace(second=0, microsecond=0)
        return ProviderResult(
            _OUTCOMES[code],
            code,
            asked["amount_cents"] + self.lie_amount,
            asked["refdet"],
            asked["numcli"],
            minute if code in ("P", "V") else None,
            "112233" if code in ("P", "V") else None,
        )

    def idop_of(self, refdet: str) -> str:
        return next(i for i, kw in self.created.items() if kw["refdet"] == refdet)


@dataclass
class Family:
    cid: str
    account_id: str
    invoices: list[Invoice]
    other_regie_invoice: Invoice
    stranger_invoice: Invoice  # another family's, in the same régie

    @property
    def ids(self) -> list[str]:
        return [i.invoice_id for i in self.invoices]


def _invoice(cid: str, ref: str, rid: str, debtor: str, amount: int, status: str = "open") -> Invoice:
    return Invoice(
        collectivite_id=cid,
        regie_id=rid,
        reference=ref,
        key_digest=key_digest(invoice_id(cid, ref), "K"),
        debtor_id=debtor,
        debtor_name=f"Famille {debtor}",
        issued_on="2026-09-01",
        due_on="2026-10-01",
        amount_cents=amount,
        status=status,
        paid_at="2026-09-10T10:00:00.000000Z" if status == "paid" else None,
        paid_by="external" if status == "paid" else None,
    )


def family(n_invoices: int = 3, amount: int = 1000, backend: str = "payfip") -> Family:
    """A collectivité with two régies, a linked account with `n_invoices` open invoices in the first."""
    cid = f"P{uuid.uuid4().hex[:10].upper()}"
    invs = [_invoice(cid, f"{cid}-{n}", "CANTINE", "D1", amount) for n in range(n_invoices)]
    other = _invoice(cid, f"{cid}-G", "GARDERIE", "D1", amount)
    stranger = _invoice(cid, f"{cid}-S", "CANTINE", "D2", amount)
    catalog.put_all(
        [
            Collectivite(cid, f"Ville {cid}"),
            Regie(cid, "CANTINE", "Restauration scolaire", backend, {"numcli": "000001"}),
            Regie(cid, "GARDERIE", "Garderie", "payfip", {"numcli": "000002"}),
            *invs,
            other,
            stranger,
        ]
    )
    account = uuid.uuid4().hex
    for rid in ("CANTINE", "GARDERIE"):
        links.create(
            Link(account, link_id(cid, rid, "D1"), cid, rid, "D1", "Famille D1", "2026-09-01T00:00:00Z"),
            other.invoice_id if rid == "GARDERIE" else invs[0].invoice_id,
        )
    return Family(cid, account, invs, other, stranger)


def stored_invoice(invoice_id_: str) -> Invoice:
    """The invoice as the table holds it now (a strongly consistent read)."""
    found = catalog.lookup(invoices=[invoice_id_], consistent=True).invoice(invoice_id_)
    assert found is not None
    return found


def stored_payment(payment_id: str) -> payment_store.Payment:
    """The payment as the table holds it now (a strongly consistent read)."""
    found = payment_store.get_payment(payment_id, consistent=True)
    assert found is not None
    return found

"""The trésorerie's side of payments: refunds it made, and the export it settles each régie's account with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from espace_famille import csvsafe
from espace_famille.clock import iso, parse_iso
from espace_famille.dal import payments as store
from espace_famille.dal.payments import Payment
from espace_famille.model import InvoiceStatus, PaymentStatus
from espace_famille.observability import logger

PARIS = ZoneInfo("Europe/Paris")
EXPORT_HEADER = ("date", "refdet", "idop", "montant", "factures", "transaction", "statut")


class RefundRefused(Exception):
    """The payment cannot be marked refunded (unknown, or not paid)."""


@dataclass(frozen=True)
class Refunded:
    payment: Payment
    reopened: list[str]  # references of the invoices that are open again


def refund(payment_id: str, note: str, now: datetime) -> Refunded:
    """Records a refund the trésorerie made (PayFiP has no refund call): the payment becomes `refunded`, and
    its invoices reopen where they are still paid by it. One transaction; a change meanwhile fails it."""
    if not note.strip():
        raise RefundRefused("une note est obligatoire (qui a remboursé, quand, pourquoi)")
    payment = store.get_payment(payment_id, consistent=True)
    if payment is None:
        raise RefundRefused(f"paiement {payment_id} inconnu")
    if payment.status != PaymentStatus.PAID:
        raise RefundRefused(
            f"paiement {payment_id} au statut « {payment.status} » : seul un paiement payé se rembourse"
        )
    current = store.invoices_of(payment.invoice_ids)
    ours = [inv for inv in current.values() if inv.status == InvoiceStatus.PAID and inv.paid_by == payment.payment_id]
    event = {"at": iso(now), "status": PaymentStatus.REFUNDED, "detail": note.strip()}
    store.refund(payment, ours, iso(now), note.strip(), event)
    logger.info("payment refunded", extra={"payment_id": payment_id, "reopened": len(ours)})
    return Refunded(payment, sorted(inv.reference for inv in ours))


def local_time(at_iso: str) -> str:
    """The time PayFiP's back-office shows: Paris local time."""
    return parse_iso(at_iso).astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


def amount(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


def export_rows(payments: Iterable[Payment]) -> list[tuple[str, ...]]:
    """One row per payment, oldest first: what the treasury matches against PayFiP's back-office."""
    rows: list[tuple[str, ...]] = []
    for p in sorted(payments, key=lambda p: (p.paid_at or "", p.payment_id)):
        rows.append(
            (
                local_time(p.paid_at or p.created_at),
                p.reference,
                p.provider_ref or "",
                amount(p.amount_cents),
                " ".join(i.reference for i in p.invoices),
                p.transaction_number or "",
                "remboursé" if p.status == PaymentStatus.REFUNDED else "payé",
            )
        )
    return rows


def export(
    start: datetime,
    end: datetime,
    regie: tuple[str, str] | None = None,
    on_page: Callable[[int], None] | None = None,
) -> dict[tuple[str, str], str]:
    """The treasury's CSV per régie ((collectivité, régie) -> CSV text) for payments made in [start, end)."""
    by_regie: dict[tuple[str, str], list[Payment]] = {}
    for page, scanned in store.settled_between(iso(start), iso(end)):
        for p in page:
            if regie is None or (p.collectivite_id, p.regie_id) == regie:
                by_regie.setdefault((p.collectivite_id, p.regie_id), []).append(p)
        if on_page is not None:
            on_page(scanned)
    return {key: csvsafe.text(EXPORT_HEADER, export_rows(found)) for key, found in sorted(by_regie.items())}

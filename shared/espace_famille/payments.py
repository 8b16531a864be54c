"""Paying invoices online: initiation, applying the provider's result exactly once, reconciliation, anomalies.

The lifecycle and its rules are described in docs/payments.md. In short: a payment locks its invoices for
LOCK_DURATION in the transaction that creates it; the provider's result is only ever fetched from the provider
(a notification, a return read or reconciliation only says "ask now"); applying it is one conditional
transaction from the status the payment was read in, so it happens once whatever the number of callers.
A paid result that cannot be applied cleanly makes the payment an anomaly that holds its invoices.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import parse_qsl

from espace_famille import mail
from espace_famille.answers import PaidInvoiceAnswer, PaymentAnswer, PaymentCreated, PaymentList
from espace_famille.clock import PARIS, iso, parse_iso
from espace_famille.config import payfip_saisie, settings
from espace_famille.dal import payments as store
from espace_famille.dal.payments import HELD_UNTIL, Conflict, InvoiceChange, PaidInvoice, Payment
from espace_famille.errors import DomainError, NotFound, ValidationFailed
from espace_famille.invoices import not_payable_reason
from espace_famille.model import (
    MAX_AMOUNT_CENTS,
    OPAQUE_ID,
    PAID_EXTERNALLY,
    Invoice,
    InvoiceStatus,
    NotPayableReason,
    PaymentStatus,
    Regie,
)
from espace_famille.observability import count, count_payment_outcome, logger
from espace_famille.payfip import (
    PayfipClient,
    PayfipEndpoints,
    ProviderResult,
    ProviderUnavailable,
    idop_from,
    objet_for,
)

MAX_INVOICES = 50
MIN_AMOUNT_CENTS = 100
LOCK_DURATION = timedelta(minutes=20)  # the idop's 15 minutes plus a margin
# Past this, "not paid yet" means never: the idop is dead and the payment expires.
IDOP_LIFE = timedelta(minutes=15)
EXPIRY_MARGIN = timedelta(minutes=5)
PROVIDER_TIMEOUT_S = 8.0  # under the functions' timeout, with room to record the outcome
CHECK_INTERVAL = timedelta(seconds=10)  # at most one provider call per payment per interval (reads, reconciliation)
_PAYMENT_FIELDS = frozenset(f.name for f in dataclasses.fields(Payment))
FINAL = frozenset({PaymentStatus.PAID, PaymentStatus.ANOMALY, PaymentStatus.ERROR})
_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class SeveralRegies(DomainError):
    status, code, message = 422, "several_regies", "Un paiement ne peut régler que des factures d’une même régie."


class NotPayable(DomainError):
    status, code, message = 422, "not_payable", "Une des factures choisies ne peut pas être payée en ligne."


class TooManyInvoices(DomainError):
    status, code, message = 422, "too_many_invoices", f"Un paiement règle au plus {MAX_INVOICES} factures."


class AmountOutOfRange(DomainError):
    status, code, message = 422, "amount_out_of_range", "Le montant d’un paiement va de 1 € à 100 000 €."


class PaymentInProgress(DomainError):
    status, code, message = 409, "payment_in_progress", "Une des factures est déjà en cours de paiement."


class ProviderDown(DomainError):
    status, code, message = (
        503,
        "provider_unavailable",
        "Le service de paiement est momentanément indisponible. Réessayez dans quelques minutes.",
    )


class Provider(Protocol):
    """What the domain needs of a payment provider (espace_famille.payfip.PayfipClient)."""

    def create_payment(
        self,
        *,
        numcli: str,
        exer: int,
        refdet: str,
        amount_cents: int,
        email: str,
        objet: str,
        saisie: str,
        urlnotif: str,
        urlredirect: str,
    ) -> str: ...

    def page_url(self, idop: str) -> str: ...

    def result(self, idop: str) -> ProviderResult: ...


# The receipt: (payment, the fields its paid result sets) -> the transaction elements written with that result,
# and what to do once it committed.
Receipt = Callable[[Payment, dict[str, Any], datetime], tuple[list[dict[str, Any]], Callable[[], None]]]


# -- initiation ------------------------------------------------------------------------------------------
def check_email(email: str) -> str:
    """An address PayFiP accepts: 6 to 80 characters, ASCII, one @ (checked before any provider call)."""
    clean = email.strip()
    if not 6 <= len(clean) <= 80 or not _EMAIL_RE.match(clean):
        raise ValidationFailed("Données invalides — « email » : adresse e-mail de 6 à 80 caractères attendue.")
    return clean


@lru_cache(maxsize=1)
def default_provider() -> PayfipClient:
    """The PayFiP client of this process, bound to the configured service (built at first use)."""
    return PayfipClient(PayfipEndpoints.from_env(), timeout=PROVIDER_TIMEOUT_S)


def new_payment_id() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").lower()[:26]


def initiate(
    account_id: str,
    invoice_ids: list[str],
    email: str,
    site_url: str,
    provider: Provider,
    now: datetime,
) -> PaymentCreated:
    """Locks the invoices in a new pending payment, asks the provider for a payment page; 201's body."""
    if not invoice_ids or len(set(invoice_ids)) != len(invoice_ids):
        raise ValidationFailed("Données invalides — « invoice_ids » : liste de factures distinctes attendue.")
    if len(invoice_ids) > MAX_INVOICES:
        raise TooManyInvoices()
    clean_email = check_email(email)
    if not all(OPAQUE_ID.match(i) for i in invoice_ids):
        raise NotFound()
    now_iso = iso(now)
    invoices = store.invoices_of(invoice_ids)
    if len(invoices) != len(invoice_ids):
        raise NotFound()
    linked, regies = store.payer_context(account_id, invoices.values())
    if any((i.collectivite_id, i.regie_id, i.debtor_id) not in linked for i in invoices.values()):
        raise NotFound()
    if len({(i.collectivite_id, i.regie_id) for i in invoices.values()}) > 1:
        raise SeveralRegies()
    regie = regies[0] if regies else None
    ordered = [invoices[i] for i in invoice_ids]
    reasons = [not_payable_reason(inv, regie, now_iso) for inv in ordered]
    if any(r not in (None, NotPayableReason.PAYMENT_IN_PROGRESS) for r in reasons):
        raise NotPayable()
    if NotPayableReason.PAYMENT_IN_PROGRESS in reasons:
        raise PaymentInProgress()
    amount = sum(i.amount_cents for i in ordered)
    if not MIN_AMOUNT_CENTS <= amount <= MAX_AMOUNT_CENTS:
        raise AmountOutOfRange()
    if regie is None:  # not_payable_reason already refused an invoice without its régie
        raise NotPayable()
    pid = new_payment_id()
    payment = Payment(
        payment_id=pid,
        reference=pid.upper(),
        account_id=account_id,
        collectivite_id=regie.collectivite_id,
        regie_id=regie.regie_id,
        regie_name=regie.name,
        backend=regie.payment_backend,
        numcli=regie.payment_options.get("numcli", ""),
        invoices=tuple(PaidInvoice(i.invoice_id, i.reference, i.amount_cents) for i in ordered),
        amount_cents=amount,
        email=clean_email,
        status=PaymentStatus.PENDING,
        created_at=now_iso,
        updated_at=now_iso,
        lock_until=iso(now + LOCK_DURATION),
        history=({"at": now_iso, "status": PaymentStatus.PENDING, "detail": "created"},),
    )
    try:
        store.create(payment, now_iso)
    except Conflict:
        _explain_conflict(invoice_ids, regie, now_iso)
    try:
        idop = provider.create_payment(
            numcli=payment.numcli,
            exer=now.astimezone(PARIS).year,
            refdet=payment.reference,
            amount_cents=amount,
            email=clean_email,
            objet=objet_for(regie.name, [i.reference for i in ordered]),
            saisie=payfip_saisie(regie.payment_options.get("saisie", "T"), settings().payfip_mode),
            urlnotif=f"{site_url}/webhooks/payfip",
            urlredirect=f"{site_url}/paiement/retour?payment={pid}",
        )
    except (ProviderUnavailable, ValueError) as exc:
        # ValueError: the adapter refused an argument PayFiP would refuse (a régie's options are wrong).
        logger.warning("payment provider unavailable at creation", extra={"payment_id": pid, "error": str(exc)})
        _give_up(payment, now, "provider unavailable at creation")
        raise ProviderDown() from None
    store.record_provider_ref(payment, idop, now_iso)
    count("PaymentsInitiated")
    return PaymentCreated(payment_id=pid, redirect_url=provider.page_url(idop), amount_cents=amount)


def _explain_conflict(invoice_ids: list[str], regie: Regie, now_iso: str) -> None:
    """The lock transaction failed: read again to tell the parent why (paid meanwhile, or another payment)."""
    for inv in store.invoices_of(invoice_ids).values():
        reason = not_payable_reason(inv, regie, now_iso)
        if reason not in (None, NotPayableReason.PAYMENT_IN_PROGRESS):
            raise NotPayable()
    raise PaymentInProgress()


def _give_up(payment: Payment, now: datetime, detail: str) -> None:
    """The provider never gave a page: the payment is an error and its locks go, in one transaction."""
    changes = [InvoiceChange(inv, "release") for inv in _ours(payment)]
    try:
        store.settle(
            payment,
            PaymentStatus.PENDING,
            PaymentStatus.ERROR,
            changes,
            iso(now),
            _event(now, PaymentStatus.ERROR, detail),
        )
    except Conflict:
        logger.error("could not mark a payment in error", extra={"payment_id": payment.payment_id})
        raise


def _ours(payment: Payment) -> list[Invoice]:
    return [i for i in store.invoices_of(payment.invoice_ids).values() if i.lock_payment_id == payment.payment_id]


def _event(now: datetime, status: str, detail: str) -> dict[str, str]:
    return {"at": iso(now), "status": status, "detail": detail[:500]}


# -- applying a result -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    to_status: str
    changes: list[InvoiceChange]
    detail: str
    fields: dict[str, Any]


def plan(payment: Payment, result: ProviderResult, invoices: Mapping[str, Invoice], now: datetime) -> Plan | None:
    """What a provider result does to a payment read in its current status (None: nothing to do)."""
    if payment.status in FINAL:
        return None
    now_iso = iso(now)
    by_id = [invoices.get(i) for i in payment.invoice_ids]
    ours = [i for i in by_id if i is not None and i.lock_payment_id == payment.payment_id]

    def release(to: str, detail: str) -> Plan:
        return Plan(to, [InvoiceChange(i, "release") for i in ours], detail, {})

    if result.outcome != "paid":
        if payment.status != PaymentStatus.PENDING:
            return None  # a payment settled locally stays so unless money was taken
        if result.outcome == "refused":
            return release(PaymentStatus.REFUSED, f"refused ({result.resultrans})")
        if result.outcome == "abandoned":
            return release(PaymentStatus.CANCELLED, "abandoned on the payment page")
        if result.outcome == "unknown":
            return release(PaymentStatus.EXPIRED, "unknown to the provider (P1)")
        if now >= parse_iso(payment.created_at) + IDOP_LIFE + EXPIRY_MARGIN:
            return release(PaymentStatus.EXPIRED, "not paid within the idop's life (P5)")
        return None
    # Money was taken: the result is applied if it matches and the invoices are still there to pay.
    fields: dict[str, Any] = {
        "paid_at": iso(result.paid_at) if result.paid_at else now_iso,
        "transaction_number": result.numauto or "",
        "resultrans": result.resultrans or "",
    }
    mismatch = []
    if result.numcli != payment.numcli:
        mismatch.append(f"numcli {result.numcli!r} instead of {payment.numcli!r}")
    if result.refdet != payment.reference:
        mismatch.append(f"refdet {result.refdet!r} instead of {payment.reference!r}")
    if result.amount_cents != payment.amount_cents:
        mismatch.append(f"amount {result.amount_cents} instead of {payment.amount_cents}")
    payable = [
        i is not None
        and i.status == InvoiceStatus.OPEN
        and (i.lock_payment_id == payment.payment_id or not i.lock_payment_id or (i.lock_until or "") <= now_iso)
        for i in by_id
    ]
    if not mismatch and all(payable):
        return Plan(PaymentStatus.PAID, [InvoiceChange(i, "pay") for i in by_id if i is not None], "paid", fields)
    problems = mismatch or [
        f"invoice {ref.reference} {_state_of(inv, payment, now_iso)}"
        for ref, inv, ok in zip(payment.invoices, by_id, payable, strict=True)
        if not ok
    ]
    changes = []
    for inv, ok in zip(by_id, payable, strict=True):
        if inv is None:
            continue
        if ok:
            changes.append(InvoiceChange(inv, "hold"))  # a family is never asked to pay twice
        elif inv.lock_payment_id == payment.payment_id:
            changes.append(InvoiceChange(inv, "release"))
        else:
            changes.append(InvoiceChange(inv, "leave"))
    anomaly = f"paid at the provider ({result.resultrans}) but " + "; ".join(problems)
    return Plan(PaymentStatus.ANOMALY, changes, anomaly, {**fields, "anomaly": anomaly})


def _state_of(inv: Invoice | None, payment: Payment, now_iso: str) -> str:
    if inv is None:
        return "no longer exists"
    if inv.status == InvoiceStatus.PAID:
        paid_by = "at the trésorerie" if inv.paid_by == PAID_EXTERNALLY else f"by payment {inv.paid_by}"
        return "already paid " + paid_by
    if inv.status != InvoiceStatus.OPEN:
        return inv.status
    if inv.lock_until == HELD_UNTIL:
        return f"held by anomaly {inv.lock_payment_id}"
    return f"locked by payment {inv.lock_payment_id}"


def apply(
    payment: Payment, result: ProviderResult, now: datetime, receipt: Receipt | None = None, attempts: int = 4
) -> Payment:
    """Applies a provider result to the payment, exactly once; returns the payment as it now stands.

    A cancelled transaction means someone else changed the payment or its invoices meanwhile: read both
    again (strongly consistent) and decide again; the status condition makes a second apply a no-op.
    """
    current = payment
    for _ in range(attempts):
        invoices = store.invoices_of(current.invoice_ids)
        todo = plan(current, result, invoices, now)
        if todo is None:
            return current
        extra: list[dict[str, Any]] = []
        after: Callable[[], None] | None = None
        if todo.to_status == PaymentStatus.PAID and receipt is not None:
            extra, after = receipt(current, todo.fields, now)
        try:
            store.settle(
                current,
                current.status,
                todo.to_status,
                todo.changes,
                iso(now),
                _event(now, todo.to_status, todo.detail),
                todo.fields,
                extra,
            )
        except Conflict:
            fresh = store.get_payment(current.payment_id, consistent=True)
            if fresh is None:
                raise NotFound() from None
            current = fresh
            continue
        count_payment_outcome(todo.to_status)
        if todo.to_status == PaymentStatus.ANOMALY:
            logger.error("payment anomaly", extra={"payment_id": current.payment_id, "anomaly": todo.detail})
        if after is not None:
            after()
        # What the transaction wrote, without reading it back.
        known = {k: v for k, v in todo.fields.items() if k in _PAYMENT_FIELDS}
        return replace(current, status=todo.to_status, updated_at=iso(now), **known)
    raise ProviderDown("Le paiement n’a pas pu être mis à jour ; réessayez.")


def refresh(
    payment: Payment, provider: Provider, now: datetime, receipt: Receipt | None = None, throttle: bool = True
) -> Payment:
    """Asks the provider about a pending payment (at most once per CHECK_INTERVAL when throttled) and applies."""
    if payment.status != PaymentStatus.PENDING:
        return payment
    if not payment.provider_ref:
        # The provider never answered its creation (or that answer was lost): nothing to ask, only to expire.
        if now >= parse_iso(payment.created_at) + IDOP_LIFE + EXPIRY_MARGIN:
            unknown = ProviderResult("unknown", None, None, None, None, None, None)
            return apply(payment, unknown, now, receipt)
        return payment
    if throttle and not store.claim_check(payment.payment_id, iso(now), iso(now - CHECK_INTERVAL)):
        return payment
    result = provider.result(payment.provider_ref)
    return apply(payment, result, now, receipt)


def notification_params(query: Mapping[str, str], body: str | None, base64_encoded: bool) -> dict[str, str]:
    """The fields of a notification: its query string and its form body (PayFiP posts a form)."""
    params = {str(k): str(v) for k, v in query.items()}
    text = body or ""
    try:
        if base64_encoded:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        # A handful of fields at most are meaningful; more is not a notification.
        params.update(parse_qsl(text, max_num_fields=20, keep_blank_values=True, strict_parsing=False))
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("Données invalides — formulaire illisible.") from None
    return params


def notified(params: Mapping[str, str], provider: Provider, now: datetime, receipt: Receipt | None = None) -> Payment:
    """The provider's notification: it names an idop, nothing more; the result is asked from the provider."""
    idop = idop_from(params)
    if idop is None:
        raise ValidationFailed("Données invalides — « idop » : absent ou mal formé.")
    pid = store.payment_of_provider_ref("payfip", idop)
    payment = store.get_payment(pid, consistent=True) if pid else None
    if payment is None:
        raise NotFound()
    if payment.status in FINAL:
        return payment
    return apply(payment, provider.result(idop), now, receipt)


def reconcile(
    provider: Provider,
    now: datetime,
    receipt: Receipt | None = None,
    budget: int = 200,
    out_of_time: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """Asks about every pending payment, oldest first, up to `budget` or until `out_of_time()`; counts outcomes.

    What is left waits for the next run: the oldest come first, so none waits forever.
    """
    counts: dict[str, int] = {"checked": 0, "unavailable": 0}
    start = None
    while counts["checked"] + counts["unavailable"] < budget:
        page, start = store.in_state(PaymentStatus.PENDING, limit=100, start=start)
        for payment in page:
            if out_of_time() or counts["checked"] + counts["unavailable"] >= budget:
                return counts
            try:
                after = refresh(payment, provider, now, receipt)
            except ProviderUnavailable:
                counts["unavailable"] += 1
                continue
            counts["checked"] += 1
            counts[after.status] = counts.get(after.status, 0) + 1
        if not start:
            break
    return counts


# -- reading -----------------------------------------------------------------------------------------------
def answer(payment: Payment) -> PaymentAnswer:
    """The payment as the parent's recap shows it: when and PayFiP's transaction number only once paid."""
    paid = payment.status == PaymentStatus.PAID
    return PaymentAnswer(
        payment_id=payment.payment_id,
        status=PaymentStatus(payment.status),
        amount_cents=payment.amount_cents,
        collectivite_id=payment.collectivite_id,
        regie_id=payment.regie_id,
        regie_name=payment.regie_name,
        reference=payment.reference,
        invoices=[
            PaidInvoiceAnswer(id=i.invoice_id, reference=i.reference, amount_cents=i.amount_cents)
            for i in payment.invoices
        ],
        created_at=payment.created_at,
        paid_at=payment.paid_at if paid else None,
        transaction_number=payment.transaction_number if paid else None,
    )


def own_payment(account_id: str, payment_id: str) -> Payment:
    if not OPAQUE_ID.match(payment_id):
        raise NotFound()
    payment = store.get_payment(payment_id)
    if payment is None or payment.account_id != account_id:
        raise NotFound()
    return payment


def read(
    account_id: str, payment_id: str, provider: Provider, now: datetime, receipt: Receipt | None = None
) -> PaymentAnswer:
    """GET /api/payments/{id}: the payment, resolved first if it is pending and the provider knows more."""
    payment = own_payment(account_id, payment_id)
    if payment.status == PaymentStatus.PENDING:
        try:
            payment = refresh(payment, provider, now, receipt)
        except ProviderUnavailable:
            logger.warning("payment provider unavailable at a return read", extra={"payment_id": payment_id})
    return answer(payment)


def list_payments(account_id: str) -> PaymentList:
    return PaymentList(payments=[answer(p) for p in store.of_account(account_id)])


def anomalies() -> list[Payment]:
    """Every anomaly, oldest first, for operations."""
    out: list[Payment] = []
    start = None
    while True:
        page, start = store.in_state(PaymentStatus.ANOMALY, limit=100, start=start)
        out += page
        if not start:
            return out


# -- receipt -----------------------------------------------------------------------------------------------
def euros(cents: int) -> str:
    """23,45 € (a narrow no-break space before the thousands: 1 234,50 €)."""
    units, rest = divmod(cents, 100)
    return f"{units:,}".replace(",", "\u202f") + f",{rest:02d} €"


def receipt_text(payment: Payment, paid_at_iso: str, transaction_number: str) -> tuple[str, str]:
    """Subject and text of the mail sent when a payment is paid."""
    when = parse_iso(paid_at_iso).astimezone(PARIS)
    lines = [
        "Bonjour,",
        "",
        f"Votre paiement de {euros(payment.amount_cents)} à la régie « {payment.regie_name} » est enregistré.",
        "",
        f"Date : {when.strftime('%d/%m/%Y à %H:%M')}",
        f"Référence du paiement : {payment.reference}",
        f"Numéro de transaction PayFiP : {transaction_number or 'non communiqué'}",
        "Factures réglées :",
        *(f"  - {i.reference} : {euros(i.amount_cents)}" for i in payment.invoices),
        f"Montant total : {euros(payment.amount_cents)}",
        "",
        "Conservez ce message : il vaut récapitulatif de votre paiement.",
        "",
        "Espace Famille",
    ]
    return f"Paiement enregistré — {payment.regie_name}", "\n".join(lines)


def mail_receipt(
    payment: Payment, fields: dict[str, Any], now: datetime
) -> tuple[list[dict[str, Any]], Callable[[], None]]:
    """The receipt as an outbox mail: stored by the transaction that marks the payment paid, queued after it.

    Its id is the payment's, so a receipt can exist only once whatever the number of notifications.
    """
    subject, text = receipt_text(payment, fields["paid_at"], fields.get("transaction_number", ""))
    mail_id = f"receipt-{payment.payment_id}"
    element = mail.outbox_put(mail_id, payment.email, subject, text, now)
    return [element], lambda: mail.release(mail_id, payment.email, subject, text)

"""The régie data as the domain sees it: collectivité, régie, debtor, invoice and its lines, news item.

French terms kept where they are the domain: a *collectivité* is the municipality (or group of them) that
runs the portal; a *régie* is one of its billing offices (cantine, garderie, accueil de loisirs…), each
with its own payment account; a *debtor* is the person a régie bills (one family, in practice).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

# 100 000 €: above it no invoice is imported and no payment made (PayFiP's own ceiling).
MAX_AMOUNT_CENTS = 100_000_00


# What _opaque() makes: 26 lower-case base32 characters. Anything else cannot name a record.
OPAQUE_ID = re.compile(r"^[a-z2-7]{26}$")


class InvoiceStatus(StrEnum):
    """An invoice's status, as the régie's file gives it (and as a payment leaves it)."""

    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"


class PaymentStatus(StrEnum):
    """A payment's status (docs/payments.md): pending until the provider's result is applied."""

    PENDING = "pending"
    PAID = "paid"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    ERROR = "error"
    ANOMALY = "anomaly"
    REFUNDED = "refunded"  # by the trésorerie, after it was paid


class View(StrEnum):
    """The three views of « Mes factures »."""

    CURRENT = "current"
    PAID = "paid"
    HIDDEN = "hidden"


class NotPayableReason(StrEnum):
    """Why an invoice cannot be ticked for an online payment (docs/api.md)."""

    PAID = "paid"
    CANCELLED = "cancelled"
    PAYMENT_IN_PROGRESS = "payment_in_progress"
    BEING_CHECKED = "being_checked"
    REGIE_NOT_PAYABLE_ONLINE = "regie_not_payable_online"


# `Invoice.paid_by` of an invoice paid outside the portal (at the trésorerie), instead of a payment id.
PAID_EXTERNALLY: Final = "external"


def _opaque(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:26]


def invoice_id(collectivite_id: str, reference: str) -> str:
    """An invoice's public id: opaque, URL-safe, 26 characters, the same at every re-import.

    A reference is unique within its collectivité, so (collectivité, reference) names one invoice.
    """
    return _opaque("invoice", collectivite_id, reference)


def link_id(collectivite_id: str, regie_id: str, debtor_id: str) -> str:
    """The id of an account's link to a debtor of a régie (the same for every account: they differ by key)."""
    return _opaque("link", collectivite_id, regie_id, debtor_id)


def news_id(collectivite_id: str, published_on: str, title: str) -> str:
    return _opaque("news", collectivite_id, published_on, title)[:16]


def key_digest(invoice_id_: str, key: str) -> str:
    """What is stored of an invoice's key ("clé"): a digest, so the secret itself is never read back."""
    return hashlib.sha256(f"{invoice_id_}\x1f{key}".encode()).hexdigest()


def key_matches(stored_digest: str, invoice_id_: str, key: str) -> bool:
    return hmac.compare_digest(stored_digest, key_digest(invoice_id_, key))


@dataclass(frozen=True)
class Collectivite:
    collectivite_id: str
    name: str


@dataclass(frozen=True)
class Regie:
    collectivite_id: str
    regie_id: str
    name: str
    payment_backend: str
    payment_options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Debtor:
    collectivite_id: str
    regie_id: str
    debtor_id: str
    name: str


@dataclass(frozen=True)
class Invoice:
    collectivite_id: str
    regie_id: str
    reference: str
    key_digest: str
    debtor_id: str
    debtor_name: str
    issued_on: str  # YYYY-MM-DD
    due_on: str  # YYYY-MM-DD
    amount_cents: int
    status: str  # open | paid | cancelled
    paid_at: str | None = None  # ISO-8601 UTC
    paid_by: str | None = None  # payment id, or PAID_EXTERNALLY
    lock_payment_id: str | None = None
    lock_until: str | None = None  # ISO-8601 UTC; a lock past this time no longer holds

    @property
    def invoice_id(self) -> str:
        return invoice_id(self.collectivite_id, self.reference)

    def locked_at(self, now_iso: str) -> bool:
        """True while a live payment holds the invoice."""
        return bool(self.lock_payment_id and self.lock_until and self.lock_until > now_iso)


@dataclass(frozen=True)
class InvoiceLine:
    collectivite_id: str
    reference: str
    line_no: int
    label: str
    quantity: Decimal
    unit_price_cents: int
    amount_cents: int

    @property
    def invoice_id(self) -> str:
        return invoice_id(self.collectivite_id, self.reference)

    def as_json(self) -> dict[str, Any]:
        quantity: int | float = (
            int(self.quantity) if self.quantity == self.quantity.to_integral() else float(self.quantity)
        )
        return {
            "label": self.label,
            "quantity": quantity,
            "unit_price_cents": self.unit_price_cents,
            "amount_cents": self.amount_cents,
        }


@dataclass(frozen=True)
class NewsItem:
    collectivite_id: str
    news_id: str
    published_on: str
    category: str
    title: str
    body: str


# -- the account side: an account and its links to debtors ------------------------------------------------
@dataclass(frozen=True)
class Account:
    """A confirmed account. An address still waiting for its confirmation has only its e-mail item."""

    account_id: str
    email: str
    password_hash: str
    display_name: str
    confirmed: bool
    created_at: str
    # Bumped by every password change and completed reset: a reset token carries the generation it was
    # issued under and is refused once the account moved on, so no old link outlives a new password.
    token_generation: int = 0


@dataclass(frozen=True)
class Link:
    """An account linked to a debtor of a régie, after a successful claim."""

    account_id: str
    link_id: str
    collectivite_id: str
    regie_id: str
    debtor_id: str
    debtor_name: str
    linked_at: str
    # The names the parent reads, as they were when the link was made, so that a listing needs no lookup;
    # None on links made before they were kept there.
    collectivite_name: str | None = None
    regie_name: str | None = None

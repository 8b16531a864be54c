"""The JSON API's answers: one pydantic model per body a route returns, so the contract is declared in code.

Handlers declare these in their signatures, which is how Powertools knows (and documents) each route's
response schema; the domain builds them once from its records. Field names and values are the wire's:
docs/api.md describes them, docs/openapi.json gives their schemas.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from espace_famille.model import InvoiceStatus, NotPayableReason, PaymentStatus

# Dates and times stay the strings the table holds (what the wire always carried); the schema says their format.
Day = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
Instant = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Cents = Annotated[int, WithJsonSchema({"type": "integer", "description": "an amount in euro cents"})]


class Answer(BaseModel):
    """A JSON object with exactly these fields, every one always present (null when it has no value)."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class ErrorAnswer(Answer):
    """Every error our functions answer (docs/api.md lists the codes and their statuses)."""

    error: str = Field(description="a stable code, e.g. validation_error")
    message: str = Field(description="a French sentence for the parent")


class Health(Answer):
    status: Literal["ok"] = "ok"


class ConfirmationSent(Answer):
    """The answer to an account request, whatever the address (nothing says whether it has an account)."""

    status: Literal["confirmation_sent"] = "confirmation_sent"


class ResetSent(Answer):
    """The answer to a password reset request, whatever the address."""

    status: Literal["reset_sent"] = "reset_sent"


class NotificationProcessed(Answer):
    """PayFiP's notification was handled: the payment's status once its result was fetched and applied."""

    status: Literal["processed"] = "processed"
    payment_status: PaymentStatus


class AccountAnswer(Answer):
    email: str
    display_name: str


class SessionOpened(Answer):
    account: AccountAnswer


class RegieLink(Answer):
    """A link of the account to a debtor of a régie (what a claim made)."""

    link_id: str
    collectivite_id: str
    collectivite_name: str
    regie_id: str
    regie_name: str
    debtor_name: str


class Me(Answer):
    account: AccountAnswer
    regies: list[RegieLink]


class ClaimAnswer(Answer):
    regie: RegieLink
    invoices_found: int = Field(description="the debtor's open and paid invoices in that régie, up to 1,000")


class NewsItemAnswer(Answer):
    id: str
    collectivite_id: str
    collectivite_name: str
    title: str
    category: str
    published_on: Day
    body: str


class NewsList(Answer):
    news: list[NewsItemAnswer] = Field(description="newest first, at most 20")


class InvoiceAnswer(Answer):
    id: str
    collectivite_id: str
    collectivite_name: str
    regie_id: str
    regie_name: str
    reference: str
    debtor_name: str
    issued_on: Day
    due_on: Day
    amount_cents: Cents
    status: InvoiceStatus
    paid_at: Instant | None
    payment_id: str | None = Field(description="the portal's payment that paid it; null when paid elsewhere")
    hidden: bool
    payable: bool = Field(description="it can be ticked for an online payment now")
    not_payable_reason: NotPayableReason | None = Field(description="null when payable")


class InvoiceLineAnswer(Answer):
    label: str
    quantity: int | float
    unit_price_cents: Cents
    amount_cents: Cents


class InvoiceDetail(InvoiceAnswer):
    lines: list[InvoiceLineAnswer]


class InvoicePage(Answer):
    invoices: list[InvoiceAnswer] = Field(description="newest first by issued_on, then reference")
    total_due_cents: Cents = Field(description="the sum of the payable invoices of the current view; 0 otherwise")
    next_cursor: str | None = Field(description="the paid view's next page; null when there is none")


class PaymentCreated(Answer):
    payment_id: str
    redirect_url: str = Field(description="PayFiP's payment page: send the browser there")
    amount_cents: Cents


class PaidInvoiceAnswer(Answer):
    id: str
    reference: str
    amount_cents: Cents


class PaymentAnswer(Answer):
    payment_id: str
    status: PaymentStatus
    amount_cents: Cents
    collectivite_id: str
    regie_id: str
    regie_name: str
    reference: str
    invoices: list[PaidInvoiceAnswer]
    created_at: Instant
    paid_at: Instant | None = Field(description="only when paid")
    transaction_number: str | None = Field(description="PayFiP's, only when paid")


class PaymentList(Answer):
    payments: list[PaymentAnswer] = Field(description="newest first, the 50 latest")


class ExportedAccount(Answer):
    email: str
    display_name: str
    confirmed: bool
    created_at: Instant


class ExportedHidden(Answer):
    invoice_id: str
    hidden_at: Instant | None


class ExportedSession(Answer):
    created_at: Instant
    idle_expires_at: Instant
    absolute_expires_at: Instant


class ExportedDevice(Answer):
    created_at: Instant
    expires_at: Instant


class AccountExport(Answer):
    """Everything the portal keeps about the account (RGPD): links and payments as they are stored."""

    account: ExportedAccount
    links: list[dict[str, Any]]
    hidden_invoices: list[ExportedHidden]
    sessions: list[ExportedSession]
    devices: list[ExportedDevice]
    payments: list[dict[str, Any]]
    exported_at: Instant

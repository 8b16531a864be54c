"""Paying invoices: POST /api/payments (initiation), GET /api/payments, GET /api/payments/{id} (the recap)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from espace_famille import payments
from espace_famille.answers import PaymentAnswer, PaymentCreated, PaymentList
from espace_famille.api import account_id, lambda_handler_for, make_resolver, site_url
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.validation import Body

init(Need.TABLE, Need.SITE, Need.MAIL_QUEUE, Need.PAYFIP_MODE)

app = make_resolver()


class NewPayment(Body):
    # Up to 1000 ids are read, so that 51 to 1000 answer too_many_invoices rather than a validation error.
    invoice_ids: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(min_length=1, max_length=1000)]
    email: Annotated[str, StringConstraints(max_length=320)]


@app.post("/api/payments", status_code=201)
def start_payment(body: NewPayment) -> PaymentCreated:
    return payments.initiate(
        account_id(app),
        body.invoice_ids,
        body.email,
        site_url(app.current_event.raw_event),
        payments.default_provider(),
        system_clock(),
    )


@app.get("/api/payments")
def list_payments() -> PaymentList:
    return payments.list_payments(account_id(app))


@app.get("/api/payments/<payment_id>")
def get_payment(payment_id: str) -> PaymentAnswer:
    return payments.read(
        account_id(app), payment_id, payments.default_provider(), system_clock(), payments.mail_receipt
    )


handler = lambda_handler_for(app)

"""POST /webhooks/payfip: PayFiP's server-to-server notification; it only names an idop, the result is fetched."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from espace_famille import payments
from espace_famille.api import lambda_handler_for, make_resolver
from espace_famille.clock import system_clock
from espace_famille.errors import ValidationFailed

app = make_resolver()


@app.post("/webhooks/payfip")
def notification() -> dict[str, Any]:
    event = app.current_event
    params = dict(event.query_string_parameters or {})
    body = event.decoded_body or ""
    # Form fields (PayFiP posts application/x-www-form-urlencoded); a few at most are meaningful.
    try:
        params.update(parse_qsl(body, max_num_fields=20, keep_blank_values=True))
    except ValueError:
        raise ValidationFailed("Données invalides — formulaire illisible.") from None
    payment = payments.notified(params, payments.default_provider(), system_clock(), payments.mail_receipt)
    return {"status": "processed", "payment_status": payment.status}


# A provider's form post: no Origin of ours, and not JSON.
handler = lambda_handler_for(app, check_origin=False, json_only=False)

"""POST /webhooks/payfip: PayFiP's server-to-server notification; it only names an idop, the result is fetched."""

from __future__ import annotations

from espace_famille import payments
from espace_famille.answers import NotificationProcessed
from espace_famille.api import lambda_handler_for, make_resolver
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.model import PaymentStatus

init(Need.TABLE, Need.SITE, Need.MAIL_QUEUE)

app = make_resolver()


@app.post("/webhooks/payfip")
def notification() -> NotificationProcessed:
    raw = app.current_event.raw_event
    params = payments.notification_params(
        raw.get("queryStringParameters") or {}, raw.get("body"), bool(raw.get("isBase64Encoded"))
    )
    payment = payments.notified(params, payments.default_provider(), system_clock(), payments.mail_receipt)
    return NotificationProcessed(payment_status=PaymentStatus(payment.status))


# A provider's form post: no Origin of ours, and not JSON.
handler = lambda_handler_for(app, check_origin=False, json_only=False)

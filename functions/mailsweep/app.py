"""Scheduled: queues again the outbox mails whose own message was lost (never sent some minutes later)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from espace_famille import mail
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.observability import logger, metrics, traced

init(Need.TABLE, Need.MAIL_QUEUE)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return {"queued": mail.sweep(system_clock())}

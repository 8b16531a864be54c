"""Every 5 minutes: asks the provider about the payments still pending (lost notifications, closed browsers)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from espace_famille import payments
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.observability import logger, metrics

init(Need.TABLE, Need.MAIL_QUEUE)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    counts = payments.reconcile(
        payments.default_provider(),
        system_clock(),
        payments.mail_receipt,
        # Stop with room for one more provider call (its timeout) and the writes after it.
        out_of_time=lambda: context.get_remaining_time_in_millis() < (payments.PROVIDER_TIMEOUT_S + 5) * 1000,
    )
    logger.info("reconciliation done", extra={"counts": counts})
    return counts

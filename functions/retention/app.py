"""Scheduled daily: RGPD retention of unused accounts (notice, then deletion; docs/operations.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from espace_famille import retention
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.observability import logger, metrics, traced

init(Need.TABLE, Need.MAIL_QUEUE)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    done = retention.run(system_clock())
    return {"notified": done.notified, "deleted": done.deleted}

"""Lambda REQUEST authorizer of the HTTP API (payload 2.0, simple responses): checks the session cookie."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from espace_famille.authorizer import authorize
from espace_famille.clock import system_clock
from espace_famille.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorize(event.get("cookies") or [], system_clock())

"""Powertools Logger, Metrics and Tracer, created once per process and shared by every module.

Importing the X-Ray SDK costs about 0.4 s of cold start: the Tracer is created only when tracing is on
(template parameter EnableTracing), and the session authorizer, on the path of every request, never
traces.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

# A request that records no business metric is normal; Powertools would warn on every one of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")

F = TypeVar("F", bound=Callable[..., Any])
_tracer: Any = None


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() not in ("true", "1")


def tracer() -> Any:
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer()
    return _tracer


def traced(handler: F) -> F:
    """Tracer.capture_lambda_handler when tracing is on; the handler itself otherwise."""
    if not tracing_enabled():
        return handler
    decorated: F = tracer().capture_lambda_handler(handler)
    return decorated

"""Powertools Logger, Metrics and Tracer, created once per process and shared by every module.

Lambda's own active tracing (template parameter EnableTracing) records each invocation without any code
here. Importing the X-Ray SDK for subsegments costs about 0.3 s of cold start: the Tracer is created only
when the template asks for it (EnableXRaySdk, off by default), and the session authorizer never creates it.
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
    """True when the template loads the X-Ray SDK (XRAY_SDK) and Powertools' tracing is not disabled."""
    sdk = os.environ.get("XRAY_SDK", "false").lower() in ("true", "1")
    return sdk and os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() not in ("true", "1")


def tracer() -> Any:
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer()
    return _tracer


def traced(handler: F) -> F:
    """Tracer.capture_lambda_handler when the X-Ray SDK is wanted; the handler itself otherwise."""
    if not tracing_enabled():
        return handler
    decorated: F = tracer().capture_lambda_handler(handler)
    return decorated

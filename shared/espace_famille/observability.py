"""Powertools Logger, Metrics and Tracer, created once per process and shared by every module.

Lambda's own active tracing (template parameter EnableTracing) records each invocation without any code
here. Importing the X-Ray SDK for subsegments costs about 0.3 s of cold start: the Tracer is created only
when the template asks for it (EnableXRaySdk, off by default), and the session authorizer never creates it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from espace_famille.config import xray_sdk_enabled

logger = Logger()
metrics = Metrics()

# A request that records no business metric is normal; Powertools would warn on every one of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")

F = TypeVar("F", bound=Callable[..., Any])

# The business metrics (namespace EspaceFamille, dimension service), each described in docs/operations.md.
BUSINESS_METRICS = frozenset(
    {
        "AccountsCreated",
        "LoginsFailed",
        "LoginsThrottled",
        "ClaimsFailed",
        "PaymentsInitiated",
        "PaymentsPaid",
        "PaymentsRefused",
        "PaymentsCancelled",
        "PaymentsExpired",
        "PaymentAnomalies",
        "ImportRowsRejected",
        "MailNotSent",
    }
)

# Outcomes read from an API answer: (route key, status) -> metric. The API's statuses already say what
# happened, so the domain code stays free of counting.
_API_OUTCOMES = {
    ("POST /api/accounts/confirm", 204): "AccountsCreated",
    ("POST /api/session", 401): "LoginsFailed",
    ("POST /api/session", 429): "LoginsThrottled",
    ("POST /api/claims", 404): "ClaimsFailed",
    ("POST /api/claims", 409): "ClaimsFailed",
    ("POST /api/claims", 429): "ClaimsFailed",
}


def count(name: str, value: int = 1) -> None:
    """Adds to a business metric; published when the handler (decorated with metrics.log_metrics) returns."""
    if name not in BUSINESS_METRICS:
        raise ValueError(f"{name} is not a documented business metric")
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


_PAYMENT_OUTCOMES = {
    "paid": "PaymentsPaid",
    "refused": "PaymentsRefused",
    "cancelled": "PaymentsCancelled",
    "expired": "PaymentsExpired",
    "anomaly": "PaymentAnomalies",
}


def count_payment_outcome(status: str) -> None:
    """A payment reached this status (an error, before PayFiP gave a page, is in the logs only)."""
    name = _PAYMENT_OUTCOMES.get(status)
    if name is not None:
        count(name)


def count_api_outcome(route_key: str, status: int) -> None:
    name = _API_OUTCOMES.get((route_key, status))
    if name is not None:
        count(name)


_tracer: Any = None


def tracer() -> Any:
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer()
    return _tracer


def traced(handler: F) -> F:
    """Tracer.capture_lambda_handler when the X-Ray SDK is wanted; the handler itself otherwise."""
    if not xray_sdk_enabled():
        return handler
    decorated: F = tracer().capture_lambda_handler(handler)
    return decorated

"""Powertools Logger, Tracer and Metrics, created once per process and shared by every module."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# A request that records no business metric is normal; Powertools would warn on every one of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")

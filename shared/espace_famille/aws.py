"""boto3 clients: one per service and process, created on first use (a cold start that never needs one pays nothing)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_clients: dict[str, Any] = {}

# Fail fast on a stuck connection, retry what AWS asks to retry: a Lambda has seconds, not minutes.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2, read_timeout=5)


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is None:
        found = _clients[service] = boto3.client(service, config=_CONFIG)
    return found


def forget_clients() -> None:
    """Drops every client, so the next ones read the environment again (tests and tools that change it)."""
    _clients.clear()

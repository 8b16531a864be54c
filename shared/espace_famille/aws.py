"""AWS clients: one per service and process, created on first use (a cold start that never needs one pays nothing).

DynamoDB and SQS, which the request path calls, go through `dal.wire` (the standard library's HTTP client,
boto3's method names): boto3 is imported only by what still needs it (S3 for the import, SES for the mail
function, the command-line tool).
"""

from __future__ import annotations

from typing import Any

from espace_famille.dal import wire

_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is None:
        found = _clients[service] = wire.Client(service) if service in wire.TARGET_PREFIXES else _boto3_client(service)
    return found


def _boto3_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Fail fast on a stuck connection, retry what AWS asks to retry: a Lambda has seconds, not minutes.
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2, read_timeout=5)
    return boto3.client(service, config=config)


def forget_clients() -> None:
    """Drops every client, so the next ones read the environment again (tests and tools that change it)."""
    _clients.clear()
    wire.close_connections()

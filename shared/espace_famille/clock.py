"""The domain's notion of now: injectable, so that expiry rules are tested without waiting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Storage form of a timestamp: ISO-8601 in UTC with a Z, to the microsecond, sortable as text."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def epoch(dt: datetime) -> int:
    """DynamoDB TTL attribute value (seconds since the epoch)."""
    return int(dt.timestamp())

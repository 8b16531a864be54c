"""Throttling of guessable or abusable actions: fixed-window counters per account, e-mail or client IP."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from espace_famille.dal import counters
from espace_famille.errors import RateLimited


@dataclass(frozen=True)
class Limit:
    scope: str
    count: int
    window: timedelta

    def window_start(self, now: datetime) -> int:
        seconds = int(self.window.total_seconds())
        return int(now.timestamp()) // seconds * seconds

    def retry_after(self, now: datetime) -> int:
        return self.window_start(now) + int(self.window.total_seconds()) - int(now.timestamp())


# Failed logins: 5 per account per quarter hour stops guessing one password; 20 per IP stops spraying.
LOGIN_FAILURES_ACCOUNT = Limit("login-account", 5, timedelta(minutes=15))
LOGIN_FAILURES_IP = Limit("login-ip", 20, timedelta(minutes=15))
ACCOUNT_CREATIONS_IP = Limit("signup-ip", 10, timedelta(hours=1))
RESET_REQUESTS_IP = Limit("reset-ip", 10, timedelta(hours=1))
# Beyond 3 reset mails an hour to one address, further requests are answered the same but send nothing.
RESET_MAILS_EMAIL = Limit("reset-email", 3, timedelta(hours=1))
CLAIM_FAILURES_ACCOUNT = Limit("claim-account", 5, timedelta(hours=1))
CLAIM_FAILURES_IP = Limit("claim-ip", 20, timedelta(hours=1))


def subject_of_email(email: str) -> str:
    """Counters name an e-mail by a digest: no address is stored outside the account itself."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]


def ensure_allowed(checks: list[tuple[Limit, str]], now: datetime) -> None:
    """Raises RateLimited if any counter already reached its limit in the current window (one read)."""
    found = counters.current([(c.scope, subject, c.window_start(now)) for c, subject in checks])
    worst = 0
    for limit, subject in checks:
        if found.get((limit.scope, subject), 0) >= limit.count:
            worst = max(worst, limit.retry_after(now))
    if worst:
        raise RateLimited(worst)


def record(limit: Limit, subject: str, now: datetime) -> int:
    """Counts one more event in the current window; returns the new count."""
    start = limit.window_start(now)
    return counters.add(limit.scope, subject, start, expires_at=start + int(limit.window.total_seconds()))


def take(limit: Limit, subject: str, now: datetime) -> None:
    """Counts one attempt and refuses it once the window's allowance is spent (one conditional write)."""
    if record(limit, subject, now) > limit.count:
        raise RateLimited(limit.retry_after(now))


def clear(limit: Limit, subject: str, now: datetime) -> None:
    counters.delete(limit.scope, subject, limit.window_start(now))

"""Throttling of guessable or abusable actions: sliding-window counters per account, e-mail or client IP."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from espace_famille.dal import counters
from espace_famille.errors import RateLimited


@dataclass(frozen=True)
class Limit:
    """At most `count` events per `window`, over a sliding window.

    Two fixed-window counters approximate it: the previous window's count, weighted by how much of it still
    lies within one window back from now, plus the current one's. Unlike a bare fixed window, the allowance is
    not given back in full the second a window ends.
    """

    scope: str
    count: int
    window: timedelta

    @property
    def seconds(self) -> int:
        return int(self.window.total_seconds())

    def window_start(self, now: datetime) -> int:
        return int(now.timestamp()) // self.seconds * self.seconds

    def estimate(self, previous: int, current: int, now: datetime) -> float:
        elapsed = now.timestamp() - self.window_start(now)
        return previous * (1 - elapsed / self.seconds) + current

    def wait(self, previous: int, current: int, now: datetime) -> int:
        """Seconds until one more event is allowed (0: now), if nothing else is counted meanwhile.

        One more is allowed while the estimate leaves room for a whole event (≤ count - 1): the previous
        window's events fade out gradually, but the count they leave is never rounded down.
        """
        room = self.count - 1
        if self.estimate(previous, current, now) <= room:
            return 0
        w = self.seconds
        elapsed = int(now.timestamp()) - self.window_start(now)
        if current <= room and previous > 0:
            # Still in this window, once enough of the previous one has slid out.
            at = Fraction(w * (previous - (room - current)), previous)
            return max(1, math.ceil(at - elapsed))
        # In the next window, once enough of this one has slid out.
        at = Fraction(w * (current - room), current)
        return max(1, math.ceil(w - elapsed + at))


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


def _waits(checks: list[tuple[Limit, str]], now: datetime) -> int:
    """The longest wait among the checks, reading every counter involved in one call."""
    wanted = []
    for limit, subject in checks:
        start = limit.window_start(now)
        wanted += [(limit.scope, subject, start), (limit.scope, subject, start - limit.seconds)]
    found = counters.current(wanted)
    return max(
        limit.wait(
            found[(limit.scope, subject, limit.window_start(now) - limit.seconds)],
            found[(limit.scope, subject, limit.window_start(now))],
            now,
        )
        for limit, subject in checks
    )


def ensure_allowed(checks: list[tuple[Limit, str]], now: datetime) -> None:
    """Raises RateLimited (with the wait) if any of the checks has spent its allowance."""
    wait = _waits(checks, now)
    if wait:
        raise RateLimited(wait)


def allowed(limit: Limit, subject: str, now: datetime) -> bool:
    return _waits([(limit, subject)], now) == 0


def record(limit: Limit, subject: str, now: datetime) -> None:
    """Counts one more event in the current window; the counter lives two windows (TTL collects it)."""
    start = limit.window_start(now)
    counters.add(limit.scope, subject, start, expires_at=start + 2 * limit.seconds)


def take(limit: Limit, subject: str, now: datetime) -> None:
    """Refuses the attempt once the allowance is spent; counts it otherwise."""
    ensure_allowed([(limit, subject)], now)
    record(limit, subject, now)

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


# Failed logins from a browser without a device cookie for the account: 5 per e-mail per quarter hour stops
# guessing one password, 20 per IP stops spraying. A browser with a device cookie for that account counts
# its failures apart (5 per device per quarter hour), so failures from elsewhere never lock the owner out.
LOGIN_FAILURES_ACCOUNT = Limit("login-account", 5, timedelta(minutes=15))
LOGIN_FAILURES_IP = Limit("login-ip", 20, timedelta(minutes=15))
LOGIN_FAILURES_DEVICE = Limit("login-device", 5, timedelta(minutes=15))
ACCOUNT_CREATIONS_IP = Limit("signup-ip", 10, timedelta(hours=1))
# Beyond 3 sign-up mails an hour to one address, further creations are answered the same but send nothing.
SIGNUP_MAILS_EMAIL = Limit("signup-email", 3, timedelta(hours=1))
RESET_REQUESTS_IP = Limit("reset-ip", 10, timedelta(hours=1))
# Beyond 3 reset mails an hour to one address, further requests are answered the same but send nothing.
RESET_MAILS_EMAIL = Limit("reset-email", 3, timedelta(hours=1))
CLAIM_FAILURES_ACCOUNT = Limit("claim-account", 5, timedelta(hours=1))
CLAIM_FAILURES_IP = Limit("claim-ip", 20, timedelta(hours=1))


def subject_of_email(email: str) -> str:
    """Counters name an e-mail by a digest: no address is stored outside the account itself."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]


Check = tuple[Limit, str]


@dataclass
class Reservation:
    """Attempts counted before the work they guard; `release` gives them back (a login that succeeded)."""

    taken: list[tuple[Limit, str, int]]

    def release(self) -> None:
        for limit, subject, start in self.taken:
            counters.add(limit.scope, subject, start, expires_at=start + 2 * limit.seconds, by=-1)
        self.taken = []


def _reserve(checks: list[Check], now: datetime) -> tuple[Reservation, int]:
    """Counts one attempt on every check first (atomic ADD), then reads the previous windows.

    Each caller's ADD returns a distinct count, so however many run at once, only those whose own count
    fits proceed: no race can let more through than the limit. Refused attempts are given back, so that
    hammering a spent allowance does not prolong it. Returns the reservation and the longest wait (0: allowed).
    """
    counts = []
    for limit, subject in checks:
        start = limit.window_start(now)
        counts.append(counters.add(limit.scope, subject, start, expires_at=start + 2 * limit.seconds))
    reservation = Reservation([(limit, subject, limit.window_start(now)) for limit, subject in checks])
    previous = counters.current(
        [(limit.scope, subject, limit.window_start(now) - limit.seconds) for limit, subject in checks]
    )
    wait = max(
        limit.wait(previous[(limit.scope, subject, limit.window_start(now) - limit.seconds)], count - 1, now)
        for (limit, subject), count in zip(checks, counts, strict=True)
    )
    if wait:
        reservation.release()
    return reservation, wait


def reserve(checks: list[Check], now: datetime) -> Reservation:
    """Takes one attempt from every check before the guarded work, or raises RateLimited (with the wait)."""
    reservation, wait = _reserve(checks, now)
    if wait:
        raise RateLimited(wait)
    return reservation


def try_reserve(checks: list[Check], now: datetime) -> Reservation | None:
    """Like reserve, but None instead of an error: for limits answered the same as success (mails to an address)."""
    reservation, wait = _reserve(checks, now)
    return None if wait else reservation


def take(limit: Limit, subject: str, now: datetime) -> None:
    """Counts one attempt, refusing it once the allowance is spent."""
    reserve([(limit, subject)], now)


def lift(limit: Limit, subject: str, now: datetime) -> None:
    """Forgets the subject's recent events under this limit (a completed password reset lifts the lockout)."""
    start = limit.window_start(now)
    counters.clear([(limit.scope, subject, start), (limit.scope, subject, start - limit.seconds)])

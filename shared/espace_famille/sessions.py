"""Session rules: random tokens kept hashed, idle and absolute expiry, the session cookie."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

COOKIE_NAME = "ef_session"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
# The idle deadline slides at most once per TOUCH_EVERY: one read per request, a write every few minutes.
TOUCH_EVERY = timedelta(minutes=5)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_token() -> str:
    """256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # A fast hash suffices: the token is 256 random bits, not a guessable secret like a password.
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def token_from_cookies(cookies: list[str]) -> str | None:
    """The session token among the request's cookies, if it has the shape of one."""
    for cookie in cookies:
        for part in cookie.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name == COOKIE_NAME and _TOKEN_RE.match(value):
                return value
    return None


@dataclass(frozen=True)
class SessionTimes:
    created_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime

    @classmethod
    def start(cls, now: datetime) -> SessionTimes:
        return cls(now, now + IDLE, now + ABSOLUTE)

    def valid_at(self, now: datetime) -> bool:
        return now < self.idle_expires_at and now < self.absolute_expires_at

    def needs_touch(self, now: datetime) -> bool:
        """True when the last slide of the idle deadline is more than TOUCH_EVERY old."""
        return self.idle_expires_at - IDLE + TOUCH_EVERY <= now

    def touched(self, now: datetime) -> SessionTimes:
        return SessionTimes(self.created_at, min(now + IDLE, self.absolute_expires_at), self.absolute_expires_at)

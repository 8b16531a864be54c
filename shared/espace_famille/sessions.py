"""Session rules: random tokens kept hashed, idle and absolute expiry, the session and device cookies."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

# `__Host-`: the browser keeps the cookie only if it is Secure, has Path=/ and no Domain, so neither a
# sibling subdomain nor a plain-http page can plant or overwrite it.
COOKIE_NAME = "__Host-ef_session"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
# The idle deadline slides at most once per TOUCH_EVERY: one read per request, a write every few minutes.
TOUCH_EVERY = timedelta(minutes=5)
# A request may carry several cookies of the same name (one set for a parent path, one planted by a
# sibling site before the prefix existed...): each well-formed one is tried, up to this many.
MAX_CANDIDATES = 3

# The device cookie (OWASP "device cookies"): left by a successful login, it gives this browser its own
# allowance of failed logins for that account, so failures from elsewhere never lock the owner out.
DEVICE_COOKIE_NAME = "__Host-ef_device"
DEVICE_LIFETIME = timedelta(days=180)

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_token() -> str:
    """256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # A fast hash suffices: the token is 256 random bits, not a guessable secret like a password.
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed(token: str) -> bool:
    return bool(_TOKEN_RE.match(token))


def tokens_from_cookies(cookies: list[str], name: str = COOKIE_NAME, limit: int = MAX_CANDIDATES) -> list[str]:
    """The well-formed values of the cookie `name` among the request's cookies, in order, at most `limit`."""
    found: list[str] = []
    for cookie in cookies:
        for part in cookie.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name and well_formed(value) and value not in found:
                found.append(value)
                if len(found) == limit:
                    return found
    return found


def token_from_cookies(cookies: list[str], name: str = COOKIE_NAME) -> str | None:
    """The first well-formed value of the cookie `name`, if any."""
    found = tokens_from_cookies(cookies, name, limit=1)
    return found[0] if found else None


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

"""The session authorizer's rule: a request passes when one of its session cookies names a live session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from espace_famille import sessions
from espace_famille.dal import session_check as session_store

DENY: dict[str, Any] = {"isAuthorized": False}


def authorize(cookies: list[str], now: datetime) -> dict[str, Any]:
    """API Gateway's simple response: allowed with the account id in the context, or denied.

    Every well-formed session cookie is tried (a bounded few): a stale or planted one must not shadow the
    browser's good one.
    """
    for token in sessions.tokens_from_cookies(cookies):
        stored = session_store.find(sessions.token_hash(token))
        if stored is None or not stored.times.valid_at(now):
            continue
        if stored.times.needs_touch(now):
            # Losing the race to a concurrent request of the same session is fine: it slid the deadline.
            session_store.slide(stored, stored.times.touched(now), now)
        return {"isAuthorized": True, "context": {"account_id": stored.account_id, "session": stored.token_hash}}
    return DENY

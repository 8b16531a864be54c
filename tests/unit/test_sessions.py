"""Session rules without AWS: tokens, cookie parsing, idle and absolute expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from espace_famille import sessions
from espace_famille.sessions import ABSOLUTE, IDLE, SessionTimes, token_from_cookies, tokens_from_cookies

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_tokens_are_256_bits_and_distinct():
    tokens = {sessions.new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) == 43 for t in tokens)


def test_token_hash_is_stable_and_not_the_token():
    token = sessions.new_token()
    assert sessions.token_hash(token) == sessions.token_hash(token)
    assert token not in sessions.token_hash(token)


def test_cookie_parsing():
    token = sessions.new_token()
    name = sessions.COOKIE_NAME
    assert name == "__Host-ef_session"
    assert token_from_cookies([f"{name}={token}"]) == token
    assert token_from_cookies(["a=1", f"{name}={token}", "b=2"]) == token
    assert token_from_cookies([f"x=1; {name}={token}"]) == token
    assert token_from_cookies([]) is None
    assert token_from_cookies([f"{name}=short"]) is None
    assert token_from_cookies([f"{name}={token}x"]) is None
    assert token_from_cookies([f"other_session={token}"]) is None
    # Without the prefix, it is some other cookie (one a sibling site could have set).
    assert token_from_cookies([f"ef_session={token}"]) is None


def test_every_well_formed_session_cookie_is_a_candidate_up_to_three():
    name = sessions.COOKIE_NAME
    a, b, c, d = (sessions.new_token() for _ in range(4))
    cookies = [f"{name}=court", f"{name}={a}", f"autre={b}; {name}={b}", f"{name}={a}", f"{name}={c}; {name}={d}"]
    assert tokens_from_cookies(cookies) == [a, b, c]
    assert tokens_from_cookies(cookies, limit=5) == [a, b, c, d]
    assert tokens_from_cookies([f"{sessions.DEVICE_COOKIE_NAME}={a}"]) == []
    assert tokens_from_cookies([f"{sessions.DEVICE_COOKIE_NAME}={a}"], sessions.DEVICE_COOKIE_NAME) == [a]


@given(st.lists(st.text(max_size=60), max_size=5))
def test_cookie_parsing_never_fails(cookies):
    result = token_from_cookies(cookies)
    assert result is None or len(result) == 43


def test_times():
    times = SessionTimes.start(T0)
    assert times.valid_at(T0 + IDLE - timedelta(seconds=1))
    assert not times.valid_at(T0 + IDLE)
    assert not times.needs_touch(T0 + timedelta(minutes=4))
    assert times.needs_touch(T0 + timedelta(minutes=5))
    touched = times.touched(T0 + timedelta(minutes=20))
    assert touched.idle_expires_at == T0 + timedelta(minutes=50)
    assert touched.absolute_expires_at == T0 + ABSOLUTE


def test_idle_never_passes_absolute():
    times = SessionTimes.start(T0)
    late = times.touched(T0 + ABSOLUTE - timedelta(minutes=1))
    assert late.idle_expires_at == T0 + ABSOLUTE
    assert not late.valid_at(T0 + ABSOLUTE)

"""Time rules of accounts on moto with an injected clock: session idle/absolute expiry, tokens, throttling windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from espace_famille import accounts, ratelimit
from espace_famille.authorizer import authorize
from espace_famille.errors import InvalidCredentials, InvalidToken, RateLimited
from espace_famille.sessions import COOKIE_NAME
from tests.support import PASSWORD, unique_email

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _confirmed_account(table, now: datetime = T0) -> str:
    from espace_famille.dal import accounts as store
    from espace_famille.sessions import token_hash

    email = unique_email()
    accounts.create_account(email, PASSWORD, "P", "10.0.0.1", "http://site", now)
    account = store.by_email(email)
    assert account is not None
    token = "T" * 43
    store.save_token(token_hash(token), "confirm", account.account_id, now + timedelta(hours=1))
    accounts.confirm_account(token, now)
    return email


def _cookie(token: str) -> list[str]:
    return [f"{COOKIE_NAME}={token}"]


def test_idle_expiry_slides_with_use(table):
    email = _confirmed_account(table)
    session = accounts.login(email, PASSWORD, "10.0.0.2", T0)
    now = T0
    # Used every 20 minutes, the session lives on (each use beyond 5 minutes slides the idle deadline).
    for _ in range(5):
        now += timedelta(minutes=20)
        assert authorize(_cookie(session.token), now)["isAuthorized"] is True
    # Then 31 minutes of silence: gone.
    assert authorize(_cookie(session.token), now + timedelta(minutes=31))["isAuthorized"] is False


def test_idle_expiry_without_use(table):
    email = _confirmed_account(table)
    session = accounts.login(email, PASSWORD, "10.0.0.3", T0)
    assert authorize(_cookie(session.token), T0 + timedelta(minutes=29))["isAuthorized"] is True
    # The use at 29 minutes slid the deadline to 59 minutes.
    assert authorize(_cookie(session.token), T0 + timedelta(minutes=58))["isAuthorized"] is True
    assert authorize(_cookie(session.token), T0 + timedelta(minutes=90))["isAuthorized"] is False


def test_no_write_within_five_minutes_of_the_last_slide(table, monkeypatch):
    from espace_famille.dal import session_check as session_store

    email = _confirmed_account(table)
    session = accounts.login(email, PASSWORD, "10.0.0.4", T0)
    slides: list[datetime] = []
    real = session_store.slide

    def counting_slide(stored, times, now):
        slides.append(now)
        return real(stored, times, now)

    monkeypatch.setattr(session_store, "slide", counting_slide)
    for minute in (1, 2, 3, 4):
        assert authorize(_cookie(session.token), T0 + timedelta(minutes=minute))["isAuthorized"]
    assert slides == []
    assert authorize(_cookie(session.token), T0 + timedelta(minutes=6))["isAuthorized"]
    assert len(slides) == 1


def test_absolute_expiry_after_twelve_hours_of_use(table):
    email = _confirmed_account(table)
    session = accounts.login(email, PASSWORD, "10.0.0.5", T0)
    now = T0
    while now < T0 + timedelta(hours=11, minutes=50):
        now += timedelta(minutes=10)
        assert authorize(_cookie(session.token), now)["isAuthorized"] is True
    assert authorize(_cookie(session.token), T0 + timedelta(hours=12, seconds=1))["isAuthorized"] is False


def test_confirmation_token_expires_after_48_hours(table):
    from espace_famille.dal import accounts as store
    from espace_famille.sessions import token_hash

    email = unique_email()
    accounts.create_account(email, PASSWORD, "P", "10.0.0.6", "http://site", T0)
    account = store.by_email(email)
    assert account is not None
    late, in_time = "L" * 43, "M" * 43
    store.save_token(token_hash(late), "confirm", account.account_id, T0 + accounts.CONFIRMATION_VALIDITY)
    with pytest.raises(InvalidToken):
        accounts.confirm_account(late, T0 + timedelta(hours=48, seconds=1))
    store.save_token(token_hash(in_time), "confirm", account.account_id, T0 + accounts.CONFIRMATION_VALIDITY)
    accounts.confirm_account(in_time, T0 + timedelta(hours=47))


def test_reset_token_expires_after_an_hour_and_is_single_use(table):
    from espace_famille.dal import accounts as store
    from espace_famille.sessions import token_hash

    email = _confirmed_account(table)
    account = store.by_email(email)
    assert account is not None
    token = "R" * 43
    store.save_token(token_hash(token), "reset", account.account_id, T0 + accounts.RESET_VALIDITY)
    with pytest.raises(InvalidToken):
        accounts.confirm_password_reset(token, "un nouveau mot de passe", T0 + timedelta(minutes=61))
    # A confirmation token is no reset token.
    other = "S" * 43
    store.save_token(token_hash(other), "confirm", account.account_id, T0 + timedelta(hours=1))
    with pytest.raises(InvalidToken):
        accounts.confirm_password_reset(other, "un nouveau mot de passe", T0)


def test_login_throttle_window_expires(table):
    email = _confirmed_account(table)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            accounts.login(email, "mauvais mot de passe", "10.0.1.1", T0)
    with pytest.raises(RateLimited) as blocked:
        accounts.login(email, PASSWORD, "10.0.1.2", T0 + timedelta(minutes=1))
    assert 0 < blocked.value.retry_after <= 2 * 15 * 60
    later = T0 + timedelta(seconds=blocked.value.retry_after + 61)
    assert accounts.login(email, PASSWORD, "10.0.1.3", later).account.email == email


def test_rate_limit_windows():
    limit = ratelimit.Limit("x", 3, timedelta(minutes=15))
    now = datetime(2026, 3, 2, 8, 7, 30, tzinfo=UTC)
    assert limit.window_start(now) == int(datetime(2026, 3, 2, 8, 0, tzinfo=UTC).timestamp())
    # Half of the window is gone: the previous window's events count for half.
    assert limit.estimate(previous=4, current=1, now=now) == 3.0
    assert limit.wait(previous=0, current=2, now=now) == 0
    # 3 now: blocked until a whole one has slid out, 300 s into the next window (3 * (1 - y/900) <= 2).
    assert limit.wait(previous=0, current=3, now=now) == 7 * 60 + 30 + 300
    # 6 in the previous window, 1 now: 6 * (1 - x/900) + 1 <= 2 once x >= 750 s, i.e. 300 s from now.
    assert limit.wait(previous=6, current=1, now=now) == 300
    # A window boundary does not give the allowance back at once.
    just_after = datetime(2026, 3, 2, 8, 15, 1, tzinfo=UTC)
    assert limit.wait(previous=3, current=0, now=just_after) > 0

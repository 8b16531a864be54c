"""Time rules of accounts on moto with an injected clock: session idle/absolute expiry, tokens, throttling windows."""

from __future__ import annotations

import itertools
import json
import os
import threading
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from espace_famille import accounts, ratelimit
from espace_famille.authorizer import authorize
from espace_famille.dal import counters
from espace_famille.errors import InvalidCredentials, InvalidToken, RateLimited
from espace_famille.sessions import COOKIE_NAME
from tests.support import PASSWORD, link_token, unique_email

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _deliver_queued_mails() -> None:
    """Does what the mail function does with the queue's messages: mails leave requests through it."""
    from espace_famille import aws, mail
    from espace_famille.config import settings

    sqs = aws.client("sqs")
    while True:
        got = sqs.receive_message(QueueUrl=settings().mail_queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return
        for message in got:
            mail.deliver(message["Body"], datetime.now(UTC))
            sqs.delete_message(QueueUrl=settings().mail_queue_url, ReceiptHandle=message["ReceiptHandle"])


def mailed_token(email: str, path: str) -> str:
    """The token of the last link to `path` mailed to `email` (the moto server's record of SES)."""
    _deliver_queued_mails()
    with urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/__local__/mails", timeout=10) as response:  # noqa: S310 - loopback
        sent = [m for m in json.loads(response.read()) if m["to"] == email]
    assert sent, f"no mail to {email}"
    return link_token(sent[-1]["text"], path)


_ips = itertools.count(1)


def _ip() -> str:
    """A client address of its own, so that the per-IP throttles of one test never spill into another."""
    n = next(_ips)
    return f"10.1.{n // 250}.{n % 250}"


def _signup_token(email: str, now: datetime) -> str:
    accounts.create_account(email, _ip(), "http://site", now)
    return mailed_token(email, "/compte/confirmer")


def _confirmed_account(table, now: datetime = T0) -> str:
    email = unique_email()
    accounts.confirm_account(_signup_token(email, now), PASSWORD, "Parent", now)
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


def test_confirmation_token_lives_48_hours(table):
    email = unique_email()
    token = _signup_token(email, T0)
    with pytest.raises(InvalidToken):
        accounts.confirm_account(token, PASSWORD, "Parent", T0 + timedelta(hours=48))
    # The same link, a second earlier, still works (a failed try consumes nothing).
    accounts.confirm_account(token, PASSWORD, "Parent", T0 + timedelta(hours=48) - timedelta(seconds=1))
    assert accounts.login(email, PASSWORD, "10.0.0.7", T0 + timedelta(hours=48)).account.email == email


def _reset_token(email: str, now: datetime) -> str:
    accounts.request_password_reset(email, _ip(), "http://site", now)
    return mailed_token(email, "/mot-de-passe/nouveau")


def test_reset_token_lives_an_hour_and_is_single_use(table):
    email = _confirmed_account(table)
    token = _reset_token(email, T0)
    with pytest.raises(InvalidToken):
        accounts.confirm_password_reset(token, "un nouveau mot de passe solide", T0 + timedelta(minutes=60))
    accounts.confirm_password_reset(token, "un nouveau mot de passe solide", T0 + timedelta(minutes=59))
    with pytest.raises(InvalidToken):
        accounts.confirm_password_reset(token, "encore un autre mot de passe", T0 + timedelta(minutes=59))
    assert accounts.login(email, "un nouveau mot de passe solide", "10.0.2.2", T0 + timedelta(minutes=59))


def test_a_confirmation_token_is_no_reset_token(table):
    email = unique_email()
    token = _signup_token(email, T0)
    with pytest.raises(InvalidToken):
        accounts.confirm_password_reset(token, "un nouveau mot de passe solide", T0)
    accounts.confirm_account(token, PASSWORD, "Parent", T0)


def test_a_second_sign_up_revokes_the_first_link(table):
    email = unique_email()
    first = _signup_token(email, T0)
    second = _signup_token(email, T0 + timedelta(minutes=1))
    with pytest.raises(InvalidToken):
        accounts.confirm_account(first, PASSWORD, "Parent", T0 + timedelta(minutes=2))
    accounts.confirm_account(second, PASSWORD, "Parent", T0 + timedelta(minutes=2))


def test_a_reset_request_for_a_pending_address_mails_a_confirmation_link(table):
    # A completed reset proves the address: for one not confirmed yet, the link is the confirmation page's,
    # where the owner chooses password and name; the earlier sign-up link stops working.
    email = unique_email()
    signup = _signup_token(email, T0)
    accounts.request_password_reset(email, "10.0.2.3", "http://site", T0 + timedelta(minutes=1))
    token = mailed_token(email, "/compte/confirmer")
    assert token != signup
    with pytest.raises(InvalidToken):
        accounts.confirm_account(signup, PASSWORD, "Parent", T0 + timedelta(minutes=2))
    logged = accounts.confirm_account(token, PASSWORD, "Parent", T0 + timedelta(minutes=2))
    assert logged.account.confirmed is True


def test_a_password_change_revokes_every_outstanding_reset_link(table):
    email = _confirmed_account(table)
    first = _reset_token(email, T0)
    second = _reset_token(email, T0 + timedelta(minutes=1))
    session = accounts.login(email, PASSWORD, "10.0.2.4", T0)
    new = "un nouveau mot de passe solide"
    accounts.change_password(session.account.account_id, PASSWORD, new, None, "10.0.2.4", T0 + timedelta(minutes=2))
    for token in (first, second):
        with pytest.raises(InvalidToken):
            accounts.confirm_password_reset(token, "encore un autre mot de passe", T0 + timedelta(minutes=3))
    assert accounts.login(email, new, "10.0.2.4", T0 + timedelta(minutes=3))


def test_a_completed_reset_revokes_the_other_reset_links(table):
    email = _confirmed_account(table)
    first = _reset_token(email, T0)
    second = _reset_token(email, T0 + timedelta(minutes=1))
    accounts.confirm_password_reset(second, "un nouveau mot de passe solide", T0 + timedelta(minutes=2))
    with pytest.raises(InvalidToken):
        accounts.confirm_password_reset(first, "encore un autre mot de passe", T0 + timedelta(minutes=3))
    assert accounts.login(email, "un nouveau mot de passe solide", "10.0.2.5", T0 + timedelta(minutes=3))


def test_reset_requests_are_limited_to_ten_an_hour_per_ip(table):
    ip = "10.0.3.1"
    for n in range(10):
        accounts.request_password_reset(unique_email(), ip, "http://site", T0 + timedelta(minutes=n))
    with pytest.raises(RateLimited) as blocked:
        accounts.request_password_reset(unique_email(), ip, "http://site", T0 + timedelta(minutes=10))
    assert 0 < blocked.value.retry_after <= 2 * 3600
    # Another client is not affected.
    accounts.request_password_reset(unique_email(), "10.0.3.2", "http://site", T0 + timedelta(minutes=10))


def test_wrong_passwords_at_password_change_and_deletion_count_toward_the_login_throttle(table):
    email = _confirmed_account(table)
    session = accounts.login(email, PASSWORD, "10.0.4.1", T0)
    aid = session.account.account_id
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            accounts.change_password(
                aid, "pas le bon mot de passe", "un nouveau mot de passe solide", None, "10.0.4.2", T0
            )
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            accounts.delete_account(aid, "pas le bon mot de passe", "10.0.4.3", T0)
    with pytest.raises(RateLimited):
        accounts.login(email, PASSWORD, "10.0.4.4", T0 + timedelta(minutes=1))
    with pytest.raises(RateLimited):
        accounts.delete_account(aid, PASSWORD, "10.0.4.5", T0 + timedelta(minutes=1))


def test_right_passwords_do_not_count_toward_the_login_throttle(table):
    email = _confirmed_account(table)
    # Ten logins from ten new browsers at the same minute: only failures count.
    for n in range(10):
        session = accounts.login(email, PASSWORD, f"10.0.9.{n}", T0)
    aid = session.account.account_id
    passwords = [PASSWORD, "cheval agrafe pile correcte"]
    for n in range(6):
        accounts.change_password(aid, passwords[n % 2], passwords[(n + 1) % 2], None, "10.0.9.20", T0)
    for n in range(4):
        with pytest.raises(InvalidCredentials):
            accounts.login(email, "mauvais mot de passe", f"10.0.9.{30 + n}", T0)
    assert accounts.login(email, PASSWORD, "10.0.9.40", T0)


def test_a_completed_reset_lifts_the_login_limit(table):
    email = _confirmed_account(table)
    for n in range(5):
        with pytest.raises(InvalidCredentials):
            accounts.login(email, "mauvais mot de passe", f"10.0.5.{n}", T0)
    with pytest.raises(RateLimited):
        accounts.login(email, PASSWORD, "10.0.5.9", T0 + timedelta(minutes=1))
    token = _reset_token(email, T0 + timedelta(minutes=1))
    accounts.confirm_password_reset(token, "un nouveau mot de passe solide", T0 + timedelta(minutes=2))
    assert accounts.login(email, "un nouveau mot de passe solide", "10.0.5.9", T0 + timedelta(minutes=2))


def test_a_trusted_browser_keeps_its_own_allowance(table):
    email = _confirmed_account(table)
    device = accounts.login(email, PASSWORD, "10.0.6.1", T0).device_token
    assert device is not None
    for n in range(100):
        with pytest.raises((InvalidCredentials, RateLimited)):
            accounts.login(email, "mauvais mot de passe", f"10.6.{n // 250}.{n % 250}", T0)
    with pytest.raises(RateLimited):
        accounts.login(email, PASSWORD, "10.0.6.2", T0 + timedelta(minutes=1))
    again = accounts.login(email, PASSWORD, "10.0.6.3", T0 + timedelta(minutes=1), device_token=device)
    assert again.device_token is None  # the browser keeps the cookie it has
    # Its own failures are limited, by its own counter.
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            accounts.login(email, "mauvais mot de passe", "10.0.6.3", T0 + timedelta(minutes=2), device_token=device)
    with pytest.raises(RateLimited):
        accounts.login(email, PASSWORD, "10.0.6.3", T0 + timedelta(minutes=2), device_token=device)


def test_a_device_cookie_is_trusted_for_its_own_account_only_and_expires(table):
    email, other = _confirmed_account(table), _confirmed_account(table)
    device = accounts.login(email, PASSWORD, "10.0.7.1", T0).device_token
    for n in range(5):
        with pytest.raises(InvalidCredentials):
            accounts.login(other, "mauvais mot de passe", f"10.0.7.{n + 2}", T0)
    with pytest.raises(RateLimited):
        accounts.login(other, PASSWORD, "10.0.7.9", T0, device_token=device)
    for n in range(5):
        with pytest.raises(InvalidCredentials):
            accounts.login(email, "mauvais mot de passe", f"10.0.8.{n + 2}", T0 + timedelta(days=180))
    with pytest.raises(RateLimited):
        accounts.login(email, PASSWORD, "10.0.8.9", T0 + timedelta(days=180), device_token=device)


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


def test_fifty_parallel_reservations_let_exactly_the_limit_through(table):
    limit = ratelimit.Limit("race-test", 5, timedelta(minutes=15))
    subject = unique_email()
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            ratelimit.reserve([(limit, subject)], T0)
            outcome = "through"
        except RateLimited:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("through") == 5
    assert outcomes.count("refused") == 45
    # Refused attempts were given back: the counter holds the five that went through, and stays shut.
    start = limit.window_start(T0)
    assert counters.current([(limit.scope, subject, start)])[(limit.scope, subject, start)] == 5
    with pytest.raises(RateLimited):
        ratelimit.reserve([(limit, subject)], T0 + timedelta(minutes=1))


def test_a_released_reservation_gives_its_attempt_back(table):
    limit = ratelimit.Limit("release-test", 2, timedelta(minutes=15))
    subject = unique_email()
    for _ in range(10):
        ratelimit.reserve([(limit, subject)], T0).release()
    ratelimit.reserve([(limit, subject)], T0)
    ratelimit.reserve([(limit, subject)], T0)
    with pytest.raises(RateLimited):
        ratelimit.reserve([(limit, subject)], T0)
    assert ratelimit.try_reserve([(limit, subject)], T0) is None


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

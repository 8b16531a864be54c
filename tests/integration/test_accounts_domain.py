"""Account rules on moto, in-process: what a confirmation opens, the profile, export and deletion of an account."""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from espace_famille import accounts, invoices, payments, sessions
from espace_famille.authorizer import authorize
from espace_famille.dal import accounts as store
from espace_famille.dal import links
from espace_famille.dal import payments as store_payments
from espace_famille.dal import sessions as session_store
from espace_famille.dal.links import Link
from espace_famille.errors import InvalidCredentials, InvalidToken, NotFound
from espace_famille.model import link_id
from tests.integration.test_expiry import _cookie, _deliver_queued_mails, _ip, _signup_token, mailed_token
from tests.payments_support import FakeProvider, family
from tests.support import PASSWORD, unique_email

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_a_confirmation_opens_a_session_and_gives_the_browser_a_device_cookie(table):
    email = unique_email()
    logged = accounts.confirm_account(_signup_token(email, T0), PASSWORD, "Parent Un", T0)
    assert (logged.account.email, logged.account.display_name, logged.account.confirmed) == (email, "Parent Un", True)
    assert authorize(_cookie(logged.token), T0 + timedelta(minutes=1))["isAuthorized"] is True
    assert logged.device_token is not None and sessions.well_formed(logged.device_token)
    (device,) = session_store.devices_of(logged.account.account_id)
    assert device["expires_at"] == "2026-08-29T08:00:00.000000Z"  # 180 days
    assert accounts.public(logged.account).model_dump() == {"email": email, "display_name": "Parent Un"}
    assert accounts.profile(logged.account.account_id).email == email
    # A trusted browser gets no new device cookie at its next login.
    again = accounts.login(email, PASSWORD, _ip(), T0 + timedelta(minutes=1), device_token=logged.device_token)
    assert again.device_token is None
    assert len(session_store.devices_of(logged.account.account_id)) == 1


def test_a_sign_up_for_an_address_with_an_account_mails_a_notice_and_changes_nothing(table):
    email = unique_email()
    first = accounts.confirm_account(_signup_token(email, T0), PASSWORD, "Parent", T0)
    accounts.create_account(email, _ip(), "http://site", T0 + timedelta(minutes=1))
    with pytest.raises(AssertionError):
        mailed_token(email, "/compte/confirmer?x")  # the last mail carries no link to confirm
    assert accounts.login(email, PASSWORD, _ip(), T0 + timedelta(minutes=2)).account.account_id == (
        first.account.account_id
    )


def test_unknown_and_unconfirmed_addresses_cannot_log_in(table):
    email = unique_email()
    _signup_token(email, T0)  # pending: no password yet
    for who in (email, unique_email()):
        with pytest.raises(InvalidCredentials):
            accounts.login(who, PASSWORD, _ip(), T0)
    with pytest.raises(NotFound):
        accounts.profile("0" * 32)


def test_a_reset_request_for_an_unknown_address_mails_no_link(table):
    email = unique_email()
    accounts.request_password_reset(email, _ip(), "http://site", T0)
    _deliver_queued_mails()
    with urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/__local__/mails", timeout=10) as response:  # noqa: S310 - loopback
        (notice,) = [m for m in json.loads(response.read()) if m["to"] == email]
    assert "aucun compte ne l’utilise" in notice["text"] and "token=" not in notice["text"]
    assert store.by_email(email) == (None, None)


def test_a_password_change_ends_the_other_sessions_and_keeps_the_current_one(table):
    email = unique_email()
    first = accounts.confirm_account(_signup_token(email, T0), PASSWORD, "Parent", T0)
    other = accounts.login(email, PASSWORD, _ip(), T0 + timedelta(minutes=1))
    aid = first.account.account_id
    new = "un nouveau mot de passe solide"
    keep = sessions.token_hash(first.token)
    accounts.change_password(aid, PASSWORD, new, keep, _ip(), T0 + timedelta(minutes=2), first.device_token)
    now = T0 + timedelta(minutes=3)
    assert authorize(_cookie(first.token), now)["isAuthorized"] is True
    assert authorize(_cookie(other.token), now)["isAuthorized"] is False
    with pytest.raises(InvalidCredentials):
        accounts.login(email, PASSWORD, _ip(), now)
    assert accounts.login(email, new, _ip(), now)
    # A refused new password costs nothing and changes nothing.
    with pytest.raises(Exception) as weak:
        accounts.change_password(aid, new, "abc", keep, _ip(), now)
    assert getattr(weak.value, "status", None) == 422
    accounts.logout(keep)
    assert authorize(_cookie(first.token), now)["isAuthorized"] is False


def test_the_export_holds_the_account_its_links_hidden_invoices_sessions_devices_and_payments(table):
    email = unique_email()
    logged = accounts.confirm_account(_signup_token(email, T0), PASSWORD, "Parent", T0)
    aid = logged.account.account_id
    fam = family(2)  # a collectivité with invoices; this account links itself to the same debtor
    links.create(
        Link(aid, link_id(fam.cid, "CANTINE", "D1"), fam.cid, "CANTINE", "D1", "Famille D1", "2026-03-02T08:00:00Z"),
        fam.ids[0],
    )
    invoices.set_hidden(aid, fam.ids[1], True, T0 + timedelta(minutes=1))
    pid = payments.initiate(aid, fam.ids[:1], email, "http://site", FakeProvider(), T0 + timedelta(minutes=2))
    exported = accounts.export(aid, T0 + timedelta(days=1))
    assert exported["account"] == {
        "email": email,
        "display_name": "Parent",
        "confirmed": True,
        "created_at": "2026-03-02T08:00:00.000000Z",
    }
    (link,) = exported["links"]
    assert (link["collectivite_id"], link["regie_id"], link["debtor_id"]) == (fam.cid, "CANTINE", "D1")
    assert not any(k.startswith(("PK", "SK", "GSI")) for k in link)
    assert [h["invoice_id"] for h in exported["hidden_invoices"]] == [fam.ids[1]]
    assert [p["payment_id"] for p in exported["payments"]] == [pid.payment_id]
    assert len(exported["sessions"]) == 1 and len(exported["devices"]) == 1
    assert set(exported["sessions"][0]) == {"created_at", "idle_expires_at", "absolute_expires_at"}
    assert exported["exported_at"] == "2026-03-03T08:00:00.000000Z"
    # Deleted, the account's payments stay as records that point at nobody; its links and flags go.
    accounts.delete_account(aid, PASSWORD, _ip(), T0 + timedelta(days=2))
    assert store.owned_items(aid) == [] and store.payments_of(aid) == []
    kept = store_payments.get_payment(pid.payment_id, consistent=True)
    assert kept is not None and kept.amount_cents == 1000


def test_an_account_deleted_keeps_its_payments_detached_and_frees_its_address(table):
    email = unique_email()
    logged = accounts.confirm_account(_signup_token(email, T0), PASSWORD, "Parent", T0)
    aid = logged.account.account_id
    with pytest.raises(InvalidCredentials):
        accounts.delete_account(aid, "pas le bon mot de passe", _ip(), T0)
    assert accounts.profile(aid)
    accounts.delete_account(aid, PASSWORD, _ip(), T0 + timedelta(minutes=1), logged.device_token)
    with pytest.raises(NotFound):
        accounts.profile(aid)
    assert authorize(_cookie(logged.token), T0 + timedelta(minutes=2))["isAuthorized"] is False
    assert session_store.devices_of(aid) == []
    assert store.by_email(email) == (None, None)
    with pytest.raises(InvalidToken):
        accounts.confirm_account("x" * 43, PASSWORD, "Parent", T0)
    # The address can sign up again.
    again = accounts.confirm_account(_signup_token(email, T0 + timedelta(minutes=3)), PASSWORD, "P", T0)
    assert again.account.account_id != aid


def test_a_login_that_upgrades_an_old_hash_keeps_the_outstanding_reset_links(table):
    email = unique_email()
    logged = accounts.confirm_account(_signup_token(email, T0), PASSWORD, "Parent", T0)
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    store.set_password(logged.account.account_id, weaker, revoke_tokens=False)
    accounts.request_password_reset(email, _ip(), "http://site", T0 + timedelta(minutes=1))
    token = mailed_token(email, "/mot-de-passe/nouveau")
    accounts.login(email, PASSWORD, _ip(), T0 + timedelta(minutes=2))  # rehashed with today's parameters
    account = store.by_id(logged.account.account_id, consistent=True)
    assert account is not None and account.password_hash != weaker
    accounts.confirm_password_reset(token, "un nouveau mot de passe solide", T0 + timedelta(minutes=3))

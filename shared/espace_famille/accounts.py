"""Accounts: creation and confirmation, login and logout, password reset and change, export and deletion.

The rules (docs/security.md): the same answer and the same work whether an e-mail is known or not, the
password chosen only once the address is proven, argon2id hashes, guesses throttled before they are
checked, device cookies so that nobody can lock an owner out, single-use hashed tokens, sessions and
reset links revoked when the password changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from espace_famille import mail, passwords, ratelimit, retention, sessions
from espace_famille.answers import AccountAnswer
from espace_famille.clock import iso, parse_iso
from espace_famille.dal import accounts as store
from espace_famille.dal import invoices as invoice_store
from espace_famille.dal import links as link_store
from espace_famille.dal import sessions as session_store
from espace_famille.errors import InvalidCredentials, InvalidToken, NotFound, ValidationFailed
from espace_famille.model import Account

CONFIRMATION_VALIDITY = timedelta(hours=48)
RESET_VALIDITY = timedelta(hours=1)


@dataclass(frozen=True)
class LoggedIn:
    account: Account
    token: str  # goes to the session cookie, never stored
    device_token: str | None = None  # a new device cookie to set (None: the browser already has a valid one)


def public(account: Account) -> AccountAnswer:
    return AccountAnswer(email=account.email, display_name=account.display_name)


def _check_strength(password: str, email: str, display_name: str, field: str) -> None:
    """Refuses (422) a password that zxcvbn finds too easy to guess, given the account's own words."""
    reason = passwords.weakness(password, email, display_name)
    if reason:
        raise ValidationFailed(f"Données invalides — « {field} » : {reason}.")


# -- mails ---------------------------------------------------------------------------------------------
# None of them carries text chosen by whoever asked for it: they may reach an address that asked nothing.
def _mail_confirmation(email: str, token: str, site_url: str) -> None:
    mail.send(
        email,
        "Espace Famille : confirmez votre adresse e-mail",
        "Bonjour,\n\n"
        "Pour créer votre compte Espace Famille, ouvrez ce lien (valable 48 heures) ; vous y choisirez "
        "votre mot de passe :\n"
        f"{site_url}/compte/confirmer?token={token}\n\n"
        "Si vous n’êtes pas à l’origine de cette demande, ignorez ce message : aucun compte ne sera créé.\n",
    )


def _mail_already_registered(email: str, site_url: str) -> None:
    mail.send(
        email,
        "Espace Famille : vous avez déjà un compte",
        "Bonjour,\n\n"
        "Quelqu’un, peut-être vous, a demandé à créer un compte Espace Famille avec cette adresse e-mail, "
        "qui en a déjà un.\n"
        f"Pour vous connecter : {site_url}/\n"
        "Mot de passe oublié ? Demandez-en un nouveau depuis la page de connexion.\n\n"
        "Si vous n’êtes pas à l’origine de cette demande, ignorez ce message.\n",
    )


def _mail_reset(email: str, token: str, site_url: str) -> None:
    mail.send(
        email,
        "Espace Famille : nouveau mot de passe",
        "Bonjour,\n\n"
        "Pour choisir un nouveau mot de passe, ouvrez ce lien (valable une heure) :\n"
        f"{site_url}/mot-de-passe/nouveau?token={token}\n\n"
        "Si vous n’avez rien demandé, ignorez ce message : votre mot de passe ne change pas.\n",
    )


def _mail_no_account(email: str, site_url: str) -> None:
    mail.send(
        email,
        "Espace Famille : nouveau mot de passe",
        "Bonjour,\n\n"
        "Quelqu’un, peut-être vous, a demandé un nouveau mot de passe Espace Famille pour cette adresse "
        "e-mail, mais aucun compte ne l’utilise.\n"
        f"Pour créer un compte : {site_url}/\n\n"
        "Si vous n’êtes pas à l’origine de cette demande, ignorez ce message.\n",
    )


# -- creation and confirmation ----------------------------------------------------------------------------
def create_account(email: str, client_ip: str, site_url: str, now: datetime) -> None:
    """Mails a link to choose a password and a name, or a notice if the address has an account already.

    The caller answers the same in both cases, and both make the same calls (two counters, one
    transaction, one mail), so neither the answer nor its time tells whether an address has an account.
    """
    ratelimit.take(ratelimit.ACCOUNT_CREATIONS_IP, client_ip, now)
    if ratelimit.try_reserve([(ratelimit.SIGNUP_MAILS_EMAIL, ratelimit.subject_of_email(email))], now) is None:
        return  # answered the same, but nobody gets to flood a mailbox
    token = sessions.new_token()
    if store.begin_signup(email, uuid.uuid4().hex, sessions.token_hash(token), now + CONFIRMATION_VALIDITY, iso(now)):
        _mail_confirmation(email, token, site_url)
    else:
        _mail_already_registered(email, site_url)


def confirm_account(token: str, password: str, display_name: str, now: datetime) -> LoggedIn:
    """Proves the address: sets the password and the name chosen now, confirms, and opens a session."""
    found = _token(token, "confirm", now)
    email = str(found["email"])
    _check_strength(password, email, display_name, "password")
    pending = store.pointer(email)
    if pending is None:
        raise InvalidToken()
    account = Account(
        account_id=str(pending["account_id"]),
        email=email,
        password_hash=passwords.hash_password(password),
        display_name=display_name,
        confirmed=True,
        created_at=iso(now),
    )
    if not store.confirm_signup(sessions.token_hash(token), account, iso(now)):
        raise InvalidToken()  # used, replaced by a newer link, or the address was confirmed meanwhile
    return _open_session(account, False, now)


def _token(token: str, purpose: str, now: datetime) -> dict[str, Any]:
    if not sessions.well_formed(token):
        raise InvalidToken()  # not even the shape of one of our tokens
    found = store.find_token(sessions.token_hash(token))
    if found is None or found.get("purpose") != purpose or found["expires_at"] <= iso(now):
        raise InvalidToken()
    return found


# -- login and logout --------------------------------------------------------------------------------------
def _trusted_device(device_token: str | None, email_subject: str, now: datetime) -> str | None:
    """The hash of the browser's device cookie if it is a live one for this address, else None."""
    if device_token is None or not sessions.well_formed(device_token):
        return None
    device_hash = sessions.token_hash(device_token)
    device = session_store.find_device(device_hash)
    if device is None or device["email_subject"] != email_subject or parse_iso(device["expires_at"]) <= now:
        return None
    return device_hash


def _login_checks(
    email: str, device_token: str | None, client_ip: str, now: datetime
) -> tuple[list[ratelimit.Check], bool]:
    """Whose allowance a password guess spends: the trusted browser's own, else the address's and the IP's.

    Also says whether the browser is trusted for this address.
    """
    email_subject = ratelimit.subject_of_email(email)
    device_hash = _trusted_device(device_token, email_subject, now)
    if device_hash is not None:
        return [(ratelimit.LOGIN_FAILURES_DEVICE, device_hash[:32])], True
    return [(ratelimit.LOGIN_FAILURES_ACCOUNT, email_subject), (ratelimit.LOGIN_FAILURES_IP, client_ip)], False


def login(email: str, password: str, client_ip: str, now: datetime, device_token: str | None = None) -> LoggedIn:
    """Opens a session for the right password; the same answer and the same work for any wrong one.

    The attempt is reserved before the password is checked and given back if it was right, so no number
    of parallel guesses gets more argon2 checks than the limit. An address that is unknown, or not yet
    confirmed (it has no password), costs the same reads and one decoy verification.
    """
    checks, trusted = _login_checks(email, device_token, client_ip, now)
    attempt = ratelimit.reserve(checks, now)
    _, account = store.by_email(email)
    if account is None or not account.confirmed:
        passwords.burn_verification(password)
        raise InvalidCredentials()
    if not passwords.verify_password(account.password_hash, password):
        raise InvalidCredentials()
    attempt.release()
    if passwords.needs_rehash(account.password_hash):
        store.set_password(account.account_id, passwords.hash_password(password), revoke_tokens=False)
    return _open_session(account, trusted, now)


def _open_session(account: Account, trusted: bool, now: datetime) -> LoggedIn:
    """A new session, and a device cookie for a browser that has no live one for this account."""
    token = sessions.new_token()
    session_store.create(sessions.token_hash(token), account.account_id, sessions.SessionTimes.start(now))
    retention.note_use(account.account_id, now)
    if trusted:
        return LoggedIn(account, token)
    device = sessions.new_token()
    session_store.create_device(
        sessions.token_hash(device),
        account.account_id,
        ratelimit.subject_of_email(account.email),
        now,
        now + sessions.DEVICE_LIFETIME,
    )
    return LoggedIn(account, token, device)


def logout(session_hash: str) -> None:
    session_store.delete(session_hash)


def profile(account_id: str) -> Account:
    account = store.by_id(account_id)
    if account is None:
        raise NotFound()
    return account


# -- passwords -------------------------------------------------------------------------------------------
def request_password_reset(email: str, client_ip: str, site_url: str, now: datetime) -> None:
    """Mails a reset link, a new confirmation link (address not confirmed yet), or a notice (no account).

    The three make the same calls in the same order (two counters, two reads, one transaction, one mail),
    so neither the answer nor its time tells whether the address has an account.
    """
    ratelimit.take(ratelimit.RESET_REQUESTS_IP, client_ip, now)
    if ratelimit.try_reserve([(ratelimit.RESET_MAILS_EMAIL, ratelimit.subject_of_email(email))], now) is None:
        return  # answered the same, but nobody gets to flood a mailbox
    pending, account = store.by_email(email)
    token = sessions.new_token()
    if account is None and pending is not None and not pending.get("confirmed"):
        # Following a link proves the address: the owner sets password and name on the confirmation page.
        if store.begin_signup(
            email, uuid.uuid4().hex, sessions.token_hash(token), now + CONFIRMATION_VALIDITY, iso(now)
        ):
            _mail_confirmation(email, token, site_url)
        return
    if store.issue_reset(email, account, sessions.token_hash(token), now + RESET_VALIDITY):
        _mail_reset(email, token, site_url)
    elif account is None:
        _mail_no_account(email, site_url)


def confirm_password_reset(token: str, new_password: str, now: datetime) -> None:
    """Sets the new password, revokes every session and every other reset link, lifts the login lockout."""
    found = _token(token, "reset", now)
    account = store.by_id(str(found["account_id"]), consistent=True)
    if account is None:
        raise InvalidToken()
    _check_strength(new_password, account.email, account.display_name, "password")
    password_hash = passwords.hash_password(new_password)
    generation = int(found.get("generation", 0))
    if not store.reset_with_token(sessions.token_hash(token), account.account_id, generation, password_hash, iso(now)):
        raise InvalidToken()
    session_store.delete_all(account.account_id)
    # Whoever reads the owner's mail is the owner: failures others made on this address stop counting.
    ratelimit.lift(ratelimit.LOGIN_FAILURES_ACCOUNT, ratelimit.subject_of_email(account.email), now)


def _check_password(account: Account, password: str, client_ip: str, device_token: str | None, now: datetime) -> None:
    """Proves the session's owner knows the password, throttled like a login (same counters)."""
    attempt = ratelimit.reserve(_login_checks(account.email, device_token, client_ip, now)[0], now)
    if not passwords.verify_password(account.password_hash, password):
        raise InvalidCredentials()
    attempt.release()


def change_password(
    account_id: str,
    current: str,
    new: str,
    keep_session: str | None,
    client_ip: str,
    now: datetime,
    device_token: str | None = None,
) -> None:
    """Sets a new password; every other session and every outstanding reset link stop working."""
    account = profile(account_id)
    # Strength first: a refused new password costs no guess.
    _check_strength(new, account.email, account.display_name, "new_password")
    _check_password(account, current, client_ip, device_token, now)
    store.set_password(account_id, passwords.hash_password(new))
    session_store.delete_all(account_id, keep=keep_session)


# -- RGPD: export and deletion -------------------------------------------------------------------------------
def export(account_id: str, now: datetime) -> dict[str, Any]:
    """Everything the portal keeps about the account, as JSON."""
    account = profile(account_id)
    links = [dict(sorted(link_store.attributes(lk).items())) for lk in link_store.of_account(account_id)]
    hidden = [{"invoice_id": i, "hidden_at": at} for i, at in invoice_store.hidden_ids(account_id).items()]
    return {
        "account": {
            "email": account.email,
            "display_name": account.display_name,
            "confirmed": account.confirmed,
            "created_at": account.created_at,
        },
        "links": links,
        "hidden_invoices": hidden,
        "sessions": [
            {k: s[k] for k in ("created_at", "idle_expires_at", "absolute_expires_at")}
            for s in session_store.for_account(account_id)
        ],
        "devices": [{k: d[k] for k in ("created_at", "expires_at")} for d in session_store.devices_of(account_id)],
        "payments": store.payment_records(account_id),
        "exported_at": iso(now),
    }


def delete_account(
    account_id: str, password: str, client_ip: str, now: datetime, device_token: str | None = None
) -> None:
    account = profile(account_id)
    _check_password(account, password, client_ip, device_token, now)
    session_store.delete_all(account_id)
    session_store.delete_devices(account_id)
    store.detach_payments(account_id, iso(now))
    store.delete(account, iso(now))

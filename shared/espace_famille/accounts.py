"""Accounts: creation and confirmation, login and logout, password reset and change, export and deletion.

The rules of DESIGN §6: the same answer whether an e-mail is known or not, argon2id hashes, throttled
guesses, single-use hashed tokens, sessions revoked when the password changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from espace_famille import mail, passwords, ratelimit, retention, sessions
from espace_famille.clock import iso
from espace_famille.dal import accounts as store
from espace_famille.dal import sessions as session_store
from espace_famille.dal.accounts import Account
from espace_famille.errors import EmailNotConfirmed, InvalidCredentials, InvalidToken, NotFound

CONFIRMATION_VALIDITY = timedelta(hours=48)
RESET_VALIDITY = timedelta(hours=1)


@dataclass(frozen=True)
class LoggedIn:
    account: Account
    token: str  # goes to the cookie, never stored


def public(account: Account) -> dict[str, Any]:
    return {"email": account.email, "display_name": account.display_name}


def _new_token(purpose: str, account_id: str, validity: timedelta, now: datetime) -> str:
    token = sessions.new_token()
    store.save_token(sessions.token_hash(token), purpose, account_id, now + validity)
    return token


# -- creation and confirmation ----------------------------------------------------------------------------
def create_account(email: str, password: str, display_name: str, client_ip: str, site_url: str, now: datetime) -> None:
    """Creates an unconfirmed account and mails its confirmation link; if the e-mail is taken, mails a notice.

    The caller answers the same in both cases, so the answer never tells whether an address has an account.
    """
    ratelimit.take(ratelimit.ACCOUNT_CREATIONS_IP, client_ip, now)
    # Hash first, whatever happens next: both outcomes take the same time.
    password_hash = passwords.hash_password(password)
    account = Account(
        account_id=uuid.uuid4().hex,
        email=email,
        password_hash=password_hash,
        display_name=display_name,
        confirmed=False,
        created_at=iso(now),
    )
    if store.create(account):
        token = _new_token("confirm", account.account_id, CONFIRMATION_VALIDITY, now)
        mail.send(
            email,
            "Espace Famille : confirmez votre adresse e-mail",
            f"Bonjour {display_name},\n\n"
            "Pour activer votre compte Espace Famille, ouvrez ce lien (valable 48 heures) :\n"
            f"{site_url}/compte/confirmer?token={token}\n\n"
            "Si vous n’êtes pas à l’origine de cette demande, ignorez ce message : aucun compte ne sera activé.\n",
        )
        return
    # Taken: tell the owner, and give no way in but their own password or a reset sent to this address
    # (confirming here would let whoever created the account first keep a password the owner never chose).
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


def confirm_account(token: str, now: datetime) -> None:
    found = _token(token, "confirm", now)
    if not store.confirm_with_token(sessions.token_hash(token), found["account_id"], iso(now)):
        raise InvalidToken()


def _token(token: str, purpose: str, now: datetime) -> dict[str, Any]:
    if sessions.token_from_cookies([f"{sessions.COOKIE_NAME}={token}"]) is None:
        raise InvalidToken()  # not even the shape of one of our tokens
    found = store.find_token(sessions.token_hash(token))
    if found is None or found.get("purpose") != purpose or found["expires_at"] <= iso(now):
        raise InvalidToken()
    return found


# -- login and logout --------------------------------------------------------------------------------------
def login(email: str, password: str, client_ip: str, now: datetime) -> LoggedIn:
    email_subject = ratelimit.subject_of_email(email)
    ratelimit.ensure_allowed(
        [(ratelimit.LOGIN_FAILURES_ACCOUNT, email_subject), (ratelimit.LOGIN_FAILURES_IP, client_ip)], now
    )
    account = store.by_email(email)
    if account is None:
        passwords.burn_verification(password)
        raise _failed_login(email_subject, client_ip, now)
    if not passwords.verify_password(account.password_hash, password):
        raise _failed_login(email_subject, client_ip, now)
    # Only a caller who knows the password learns that the address is not confirmed yet.
    if not account.confirmed:
        raise EmailNotConfirmed()
    if passwords.needs_rehash(account.password_hash):
        store.set_password(account.account_id, passwords.hash_password(password))
    token = sessions.new_token()
    session_store.create(sessions.token_hash(token), account.account_id, sessions.SessionTimes.start(now))
    retention.note_use(account.account_id, now)
    return LoggedIn(account, token)


def _failed_login(email_subject: str, client_ip: str, now: datetime) -> InvalidCredentials:
    """Counts a failed guess against the account and the client; returns the error to raise."""
    ratelimit.record(ratelimit.LOGIN_FAILURES_ACCOUNT, email_subject, now)
    ratelimit.record(ratelimit.LOGIN_FAILURES_IP, client_ip, now)
    return InvalidCredentials()


def logout(session_hash: str) -> None:
    session_store.delete(session_hash)


def profile(account_id: str) -> Account:
    account = store.by_id(account_id)
    if account is None:
        raise NotFound()
    return account


# -- passwords -------------------------------------------------------------------------------------------
def request_password_reset(email: str, client_ip: str, site_url: str, now: datetime) -> None:
    ratelimit.take(ratelimit.RESET_REQUESTS_IP, client_ip, now)
    account = store.by_email(email)
    if account is None:
        return
    email_subject = ratelimit.subject_of_email(email)
    if not ratelimit.allowed(ratelimit.RESET_MAILS_EMAIL, email_subject, now):
        return  # answered the same, but nobody gets to flood a mailbox
    ratelimit.record(ratelimit.RESET_MAILS_EMAIL, email_subject, now)
    token = _new_token("reset", account.account_id, RESET_VALIDITY, now)
    mail.send(
        email,
        "Espace Famille : nouveau mot de passe",
        "Bonjour,\n\n"
        "Pour choisir un nouveau mot de passe, ouvrez ce lien (valable une heure) :\n"
        f"{site_url}/mot-de-passe/nouveau?token={token}\n\n"
        "Si vous n’avez rien demandé, ignorez ce message : votre mot de passe ne change pas.\n",
    )


def confirm_password_reset(token: str, new_password: str, now: datetime) -> None:
    found = _token(token, "reset", now)
    password_hash = passwords.hash_password(new_password)
    if not store.reset_with_token(sessions.token_hash(token), found["account_id"], password_hash, iso(now)):
        raise InvalidToken()
    session_store.delete_all(found["account_id"])


def _check_password(account: Account, password: str, client_ip: str, now: datetime) -> None:
    """Proves the session's owner knows the password, throttled like a login."""
    subject = ratelimit.subject_of_email(account.email)
    ratelimit.ensure_allowed(
        [(ratelimit.LOGIN_FAILURES_ACCOUNT, subject), (ratelimit.LOGIN_FAILURES_IP, client_ip)], now
    )
    if not passwords.verify_password(account.password_hash, password):
        raise _failed_login(subject, client_ip, now)


def change_password(
    account_id: str, current: str, new: str, keep_session: str | None, client_ip: str, now: datetime
) -> None:
    account = profile(account_id)
    _check_password(account, current, client_ip, now)
    store.set_password(account_id, passwords.hash_password(new))
    session_store.delete_all(account_id, keep=keep_session)


# -- RGPD: export and deletion -------------------------------------------------------------------------------
def export(account_id: str, now: datetime) -> dict[str, Any]:
    """Everything the portal keeps about the account, as JSON."""
    account = profile(account_id)
    links, hidden = [], []
    for item in store.owned_items(account_id):
        if item["SK"].startswith("LINK#"):
            links.append({k: item[k] for k in sorted(item) if not k.startswith(("PK", "SK", "GSI"))})
        elif item["SK"].startswith("HIDDEN#"):
            hidden.append({"invoice_id": item["SK"].split("#", 1)[1], "hidden_at": item.get("hidden_at")})
    payments = [
        {k: v for k, v in p.items() if not k.startswith(("PK", "SK", "GSI"))} for p in store.payments_of(account_id)
    ]
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
        "payments": payments,
        "exported_at": iso(now),
    }


def delete_account(account_id: str, password: str, client_ip: str, now: datetime) -> None:
    account = profile(account_id)
    _check_password(account, password, client_ip, now)
    session_store.delete_all(account_id)
    store.detach_payments(account_id, iso(now))
    store.delete(account, iso(now))

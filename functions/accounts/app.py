"""Accounts: creation and confirmation, password reset and change, the account's data (RGPD)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from espace_famille import accounts, links
from espace_famille.api import (
    account_id,
    client_ip,
    device_token,
    lambda_handler_for,
    login_cookies,
    make_resolver,
    session_cookie,
    session_hash,
    site_url,
)
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.validation import Body, DisplayName, Email, GivenPassword, NewPassword, Token

SETTINGS = init(Need.TABLE, Need.SITE, Need.MAIL_QUEUE)

app = make_resolver()


class NewAccount(Body):
    """Only the address: the password and the name are chosen once it is proven (the confirmation)."""

    email: Email


class Confirmation(Body):
    token: Token
    password: NewPassword
    display_name: DisplayName


class ResetRequest(Body):
    email: Email


class ResetConfirmation(Body):
    token: Token
    password: NewPassword


class PasswordChange(Body):
    current_password: GivenPassword
    new_password: NewPassword


class Deletion(Body):
    password: GivenPassword


def _no_content(**kwargs: Any) -> Response[str]:
    return Response(status_code=204, body="", **kwargs)


@app.post("/api/accounts")
def create_account(body: NewAccount) -> Response[dict[str, str]]:
    accounts.create_account(body.email, client_ip(app), site_url(app.current_event.raw_event), system_clock())
    return Response(status_code=202, content_type="application/json", body={"status": "confirmation_sent"})


@app.post("/api/accounts/confirm")
def confirm_account(body: Confirmation) -> Response[str]:
    logged_in = accounts.confirm_account(body.token, body.password, body.display_name, system_clock())
    return _no_content(cookies=login_cookies(logged_in.token, logged_in.device_token))


@app.post("/api/password-resets")
def request_reset(body: ResetRequest) -> Response[dict[str, str]]:
    accounts.request_password_reset(body.email, client_ip(app), site_url(app.current_event.raw_event), system_clock())
    return Response(status_code=202, content_type="application/json", body={"status": "reset_sent"})


@app.post("/api/password-resets/confirm")
def confirm_reset(body: ResetConfirmation) -> Response[str]:
    accounts.confirm_password_reset(body.token, body.password, system_clock())
    return _no_content()


@app.get("/api/me")
def me() -> dict[str, Any]:
    aid = account_id(app)
    return {"account": accounts.public(accounts.profile(aid)), "regies": links.regies(aid)}


@app.delete("/api/me/regies/<link_id>")
def unlink(link_id: str) -> Response[str]:
    links.unlink(account_id(app), link_id)
    return _no_content()


@app.post("/api/me/password")
def change_password(body: PasswordChange) -> Response[str]:
    accounts.change_password(
        account_id(app),
        body.current_password,
        body.new_password,
        session_hash(app),
        client_ip(app),
        system_clock(),
        device_token(app),
    )
    return _no_content()


@app.get("/api/me/export")
def export() -> Response[dict[str, Any]]:
    return Response(
        status_code=200,
        content_type="application/json",
        body=accounts.export(account_id(app), system_clock()),
        headers={"Content-Disposition": 'attachment; filename="espace-famille-mes-donnees.json"'},
    )


@app.delete("/api/me")
def delete_me(body: Deletion) -> Response[str]:
    accounts.delete_account(account_id(app), body.password, client_ip(app), system_clock(), device_token(app))
    return _no_content(cookies=[session_cookie("")])


handler = lambda_handler_for(app)

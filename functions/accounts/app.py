"""Accounts: creation and confirmation, password reset and change, the account's data (RGPD)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from espace_famille import accounts, links
from espace_famille.answers import AccountExport, ConfirmationSent, Me, ResetSent
from espace_famille.api import (
    account_id,
    client_ip,
    device_token,
    lambda_handler_for,
    login_cookies,
    make_resolver,
    no_content,
    session_cookie,
    session_hash,
    site_url,
)
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.validation import Body, DisplayName, Email, GivenPassword, NewPassword, Token

init(Need.TABLE, Need.SITE, Need.MAIL_QUEUE)

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


@app.post("/api/accounts", status_code=202)
def create_account(body: NewAccount) -> ConfirmationSent:
    accounts.create_account(body.email, client_ip(app), site_url(app.current_event.raw_event), system_clock())
    return ConfirmationSent()


@app.post("/api/accounts/confirm", status_code=204)
def confirm_account(body: Confirmation) -> Response[None]:
    logged_in = accounts.confirm_account(body.token, body.password, body.display_name, system_clock())
    return no_content(cookies=login_cookies(logged_in.token, logged_in.device_token))


@app.post("/api/password-resets", status_code=202)
def request_reset(body: ResetRequest) -> ResetSent:
    accounts.request_password_reset(body.email, client_ip(app), site_url(app.current_event.raw_event), system_clock())
    return ResetSent()


@app.post("/api/password-resets/confirm", status_code=204)
def confirm_reset(body: ResetConfirmation) -> Response[None]:
    accounts.confirm_password_reset(body.token, body.password, system_clock())
    return no_content()


@app.get("/api/me")
def me() -> Me:
    aid = account_id(app)
    return Me(account=accounts.public(accounts.profile(aid)), regies=links.regies(aid))


@app.delete("/api/me/regies/<link_id>", status_code=204)
def unlink(link_id: str) -> Response[None]:
    links.unlink(account_id(app), link_id)
    return no_content()


@app.post("/api/me/password", status_code=204)
def change_password(body: PasswordChange) -> Response[None]:
    accounts.change_password(
        account_id(app),
        body.current_password,
        body.new_password,
        session_hash(app),
        client_ip(app),
        system_clock(),
        device_token(app),
    )
    return no_content()


@app.get("/api/me/export")
def export() -> Response[AccountExport]:
    return Response(
        status_code=200,
        content_type="application/json",
        body=AccountExport.model_validate(accounts.export(account_id(app), system_clock())),
        headers={"Content-Disposition": 'attachment; filename="espace-famille-mes-donnees.json"'},
    )


@app.delete("/api/me", status_code=204)
def delete_me(body: Deletion) -> Response[None]:
    accounts.delete_account(account_id(app), body.password, client_ip(app), system_clock(), device_token(app))
    return no_content(cookies=[session_cookie("")])


handler = lambda_handler_for(app)

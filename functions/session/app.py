"""POST /api/session (log in) and DELETE /api/session (log out)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from espace_famille import accounts
from espace_famille.answers import SessionOpened
from espace_famille.api import (
    client_ip,
    device_token,
    lambda_handler_for,
    login_cookies,
    make_resolver,
    no_content,
    session_cookie,
    session_hashes_in_cookies,
)
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.validation import Body, Email, GivenPassword

init(Need.TABLE, Need.SITE)

app = make_resolver()


class LoginBody(Body):
    email: Email
    password: GivenPassword


@app.post("/api/session")
def log_in(body: LoginBody) -> Response[SessionOpened]:
    logged_in = accounts.login(body.email, body.password, client_ip(app), system_clock(), device_token(app))
    return Response(
        status_code=200,
        content_type="application/json",
        body=SessionOpened(account=accounts.public(logged_in.account)),
        cookies=login_cookies(logged_in.token, logged_in.device_token),
    )


@app.delete("/api/session", status_code=204)
def log_out() -> Response[None]:
    # A public route: an expired or revoked session must still get the cookie that clears it, which the
    # page's JavaScript cannot do itself (HttpOnly). Whoever holds a session's token may end it.
    for session in session_hashes_in_cookies(app):
        accounts.logout(session)
    return no_content(cookies=[session_cookie("")])


handler = lambda_handler_for(app)

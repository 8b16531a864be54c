"""DELETE /api/session is public: it revokes the session it is given, if any, and always clears the cookie."""

from __future__ import annotations

import re

import pytest

from espace_famille.dal import keys
from espace_famille.sessions import COOKIE_NAME, token_hash
from tests.support import Client, signed_up

pytestmark = pytest.mark.integration


def _cleared(response) -> bool:
    cookies = response.headers.get_list("set-cookie")
    return any(
        c.startswith(f"{COOKIE_NAME}=;") and re.search(r"max-age=0\b", c, re.IGNORECASE) and "Path=/" in c
        for c in cookies
    )


def _session_item(stack, token: str):
    ddb = stack.aws.client("dynamodb")
    table = stack.info()["tables"]["Table"]
    key = {k: {"S": v} for k, v in keys.session(token_hash(token)).items()}
    return ddb, table, key


def test_logout_revokes_the_session_and_clears_the_cookie(stack):
    parent = signed_up(stack.url)
    token = parent.jar[COOKIE_NAME]
    out = parent.delete("/api/session")
    assert out.status_code == 204
    assert _cleared(out)
    ddb, table, key = _session_item(stack, token)
    assert "Item" not in ddb.get_item(TableName=table, Key=key)
    replay = Client(stack.url).get("/api/me", headers={"cookie": f"{COOKIE_NAME}={token}"})
    assert replay.status_code == 403


def test_logout_of_an_expired_session_still_clears_the_cookie(stack):
    parent = signed_up(stack.url)
    token = parent.jar[COOKIE_NAME]
    ddb, table, key = _session_item(stack, token)
    # Idle for longer than allowed: the authorizer refuses it from now on.
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET idle_expires_at = :past",
        ExpressionAttributeValues={":past": {"S": "2020-01-01T00:00:00Z"}},
    )
    assert parent.get("/api/me").status_code == 403
    out = parent.delete("/api/session")
    assert out.status_code == 204
    assert _cleared(out)
    assert "Item" not in ddb.get_item(TableName=table, Key=key)


@pytest.mark.parametrize(
    "cookie",
    [None, f"{COOKIE_NAME}=" + "Z" * 43, f"{COOKIE_NAME}=court", "autre=1"],
    ids=["no-cookie", "unknown-session", "malformed", "other-cookie"],
)
def test_logout_without_a_live_session_answers_204_and_clears(stack, cookie):
    client = Client(stack.url)
    out = client.delete("/api/session", headers={"cookie": cookie} if cookie else {})
    assert out.status_code == 204
    assert out.content == b""
    assert _cleared(out)


def test_logout_keeps_other_sessions(stack):
    parent = signed_up(stack.url)
    other = Client(stack.url)
    email = parent.email  # type: ignore[attr-defined]
    assert other.post("/api/session", json={"email": email, "password": "un mot de passe bien long"}).status_code == 200
    assert parent.delete("/api/session").status_code == 204
    assert other.get("/api/me").status_code == 200


def test_logout_from_a_foreign_origin_is_refused(stack):
    parent = signed_up(stack.url)
    out = parent.delete("/api/session", headers={"origin": "https://evil.example"})
    assert out.status_code == 403
    assert out.json()["error"] == "bad_origin"
    assert parent.get("/api/me").status_code == 200

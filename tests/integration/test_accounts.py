"""Accounts and sessions through the local gateway: flows, same answers, throttling, revocation, RGPD."""

from __future__ import annotations

import threading

import pytest

from tests.support import (
    PASSWORD,
    Client,
    calls,
    link_token,
    queued,
    reset_calls,
    reset_queued,
    signed_up,
    unique_email,
    wait_for_mail,
)

pytestmark = pytest.mark.integration

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def test_create_confirm_login_me_logout_me(stack):
    client = Client(stack.url)
    email = unique_email()
    created = client.post(
        "/api/accounts", json={"email": f"  {email.upper()} ", "password": PASSWORD, "display_name": " Jérôme "}
    )
    assert created.status_code == 202
    assert created.json() == {"status": "confirmation_sent"}
    mail = wait_for_mail(client, email)
    assert len(mail) == 1
    assert mail[0]["sent_at"]
    token = link_token(mail[0]["text"], f"{stack.url}/compte/confirmer")

    early = client.post("/api/session", json={"email": email, "password": PASSWORD})
    assert early.status_code == 403
    assert early.json()["error"] == "email_not_confirmed"

    assert client.post("/api/accounts/confirm", json={"token": token}).status_code == 204
    logged = client.post("/api/session", json={"email": email.upper(), "password": PASSWORD})
    assert logged.status_code == 200
    assert logged.json() == {"account": {"email": email, "display_name": "Jérôme"}}
    cookie = logged.headers["set-cookie"]
    for part in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
        assert part in cookie
    token_value = client.jar["ef_session"]
    assert len(token_value) == 43

    me = client.get("/api/me")
    assert me.status_code == 200
    assert me.json() == {"account": {"email": email, "display_name": "Jérôme"}, "regies": []}

    out = client.delete("/api/session")
    assert out.status_code == 204
    assert "Max-Age=0" in out.headers["set-cookie"]
    # The browser dropped the cookie; a copy kept elsewhere is revoked server-side.
    assert client.get("/api/me").status_code == 401
    replay = client.get("/api/me", headers={"cookie": f"ef_session={token_value}"})
    assert replay.status_code == 403
    assert replay.json() == {"message": "Forbidden"}


def test_confirmation_token_is_single_use(stack):
    client = Client(stack.url)
    email = unique_email()
    client.post("/api/accounts", json={"email": email, "password": PASSWORD, "display_name": "P"})
    token = link_token(wait_for_mail(client, email)[0]["text"], "/compte/confirmer")
    assert client.post("/api/accounts/confirm", json={"token": token}).status_code == 204
    again = client.post("/api/accounts/confirm", json={"token": token})
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_token"


def test_taken_email_answers_the_same_and_mails_a_notice(stack):
    first = signed_up(stack.url)
    email = first.email  # type: ignore[attr-defined]
    other = Client(stack.url)
    response = other.post(
        "/api/accounts", json={"email": email, "password": "un tout autre mot de passe", "display_name": "X"}
    )
    assert response.status_code == 202
    assert response.json() == {"status": "confirmation_sent"}
    got = wait_for_mail(other, email, count=2)
    assert "déjà un compte" in got[-1]["subject"]
    assert "token=" not in got[-1]["text"]
    # The second password opens nothing; the first still works.
    assert (
        other.post("/api/session", json={"email": email, "password": "un tout autre mot de passe"}).status_code == 401
    )
    assert other.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 200


def test_unknown_email_and_wrong_password_answer_alike(stack):
    parent = signed_up(stack.url)
    a = Client(stack.url).post("/api/session", json={"email": unique_email(), "password": PASSWORD})
    b = Client(stack.url).post("/api/session", json={"email": parent.email, "password": PASSWORD + "x"})  # type: ignore[attr-defined]
    assert a.status_code == b.status_code == 401
    assert (
        a.json()
        == b.json()
        == {
            "error": "invalid_credentials",
            "message": "Adresse e-mail ou mot de passe incorrect.",
        }
    )


def test_login_failures_are_throttled_per_account(stack):
    parent = signed_up(stack.url)
    email = parent.email  # type: ignore[attr-defined]
    for _ in range(5):
        # From different addresses: the per-account counter is what stops this.
        assert (
            Client(stack.url)
            .post("/api/session", json={"email": email, "password": "mauvais mot de passe"})
            .status_code
            == 401
        )
    blocked = Client(stack.url).post("/api/session", json={"email": email, "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "rate_limited"
    assert 0 < int(blocked.headers["retry-after"]) <= 2 * 15 * 60


def test_login_failures_are_throttled_per_ip(stack):
    attacker = Client(stack.url)
    for _ in range(20):
        r = attacker.post("/api/session", json={"email": unique_email(), "password": "devine devine devine"})
        assert r.status_code == 401
    blocked = attacker.post("/api/session", json={"email": unique_email(), "password": "devine devine devine"})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    # Someone else, elsewhere, is not affected.
    assert (
        Client(stack.url).post("/api/session", json={"email": unique_email(), "password": "x" * 12}).status_code == 401
    )


def test_account_creations_are_throttled_per_ip(stack):
    client = Client(stack.url)
    for _ in range(10):
        r = client.post("/api/accounts", json={"email": unique_email(), "password": PASSWORD, "display_name": "P"})
        assert r.status_code == 202
    email = unique_email()
    reset_queued(client)
    blocked = client.post("/api/accounts", json={"email": email, "password": PASSWORD, "display_name": "P"})
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"]
    assert queued(client) == 0


def test_ten_simultaneous_creations_of_one_email_make_one_account(stack):
    email = unique_email("race")
    statuses: list[int] = []

    def create(i: int) -> None:
        with Client(stack.url) as c:
            statuses.append(
                c.post(
                    "/api/accounts", json={"email": email, "password": f"{PASSWORD} {i}", "display_name": f"P{i}"}
                ).status_code
            )

    threads = [threading.Thread(target=create, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [202] * 10
    client = Client(stack.url)
    got = wait_for_mail(client, email, count=10)
    confirmations = [m for m in got if "/compte/confirmer?token=" in m["text"]]
    notices = [m for m in got if "déjà un compte" in m["subject"]]
    assert len(confirmations) == 1
    assert len(notices) == 9
    table = stack.aws.client("dynamodb")
    item = table.get_item(
        TableName=stack.resource_name("Table"), Key={"PK": {"S": f"EMAIL#{email}"}, "SK": {"S": "EMAIL"}}
    )
    assert "Item" in item


def test_password_reset_flow_revokes_sessions(stack):
    parent = signed_up(stack.url)
    email = parent.email  # type: ignore[attr-defined]
    other_device = Client(stack.url)
    assert other_device.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 200

    stranger = Client(stack.url)
    unknown = stranger.post("/api/password-resets", json={"email": unique_email()})
    known = stranger.post("/api/password-resets", json={"email": email})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    token = link_token(wait_for_mail(stranger, email, count=2)[-1]["text"], f"{stack.url}/mot-de-passe/nouveau")

    weak = stranger.post("/api/password-resets/confirm", json={"token": token, "password": "court"})
    assert weak.status_code == 422
    new_password = "un nouveau mot de passe solide"
    assert (
        stranger.post("/api/password-resets/confirm", json={"token": token, "password": new_password}).status_code
        == 204
    )
    reused = stranger.post("/api/password-resets/confirm", json={"token": token, "password": new_password + "!"})
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_token"

    assert parent.get("/api/me").status_code == 403
    assert other_device.get("/api/me").status_code == 403
    assert Client(stack.url).post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 401
    assert Client(stack.url).post("/api/session", json={"email": email, "password": new_password}).status_code == 200


def test_reset_mails_to_one_address_are_capped(stack):
    parent = signed_up(stack.url)
    email = parent.email  # type: ignore[attr-defined]
    reset_queued(parent)
    for _ in range(5):
        assert Client(stack.url).post("/api/password-resets", json={"email": email}).status_code == 202
    assert queued(parent) == 3
    resets = [m for m in wait_for_mail(parent, email, count=1 + 3) if "nouveau mot de passe" in m["subject"]]
    assert len(resets) == 3


def test_password_change_keeps_this_session_and_revokes_others(stack):
    parent = signed_up(stack.url)
    email = parent.email  # type: ignore[attr-defined]
    laptop = Client(stack.url)
    assert laptop.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 200

    wrong = parent.post(
        "/api/me/password", json={"current_password": "pas le bon mot de passe", "new_password": "x" * 20}
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_credentials"
    weak = parent.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "court"})
    assert weak.status_code == 422
    new_password = "encore un autre mot de passe"
    changed = parent.post("/api/me/password", json={"current_password": PASSWORD, "new_password": new_password})
    assert changed.status_code == 204
    assert parent.get("/api/me").status_code == 200
    assert laptop.get("/api/me").status_code == 403
    assert Client(stack.url).post("/api/session", json={"email": email, "password": new_password}).status_code == 200


def test_export_holds_the_accounts_data(stack):
    parent = signed_up(stack.url, name="Sophie")
    exported = parent.get("/api/me/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    data = exported.json()
    assert data["account"]["email"] == parent.email  # type: ignore[attr-defined]
    assert data["account"]["display_name"] == "Sophie"
    assert data["account"]["confirmed"] is True
    assert len(data["sessions"]) == 1
    assert set(data) >= {"links", "hidden_invoices", "payments", "exported_at"}
    assert "password" not in exported.text
    assert parent.jar["ef_session"] not in exported.text


def test_account_deletion(stack):
    parent = signed_up(stack.url)
    email = parent.email  # type: ignore[attr-defined]
    wrong = parent.request("DELETE", "/api/me", json={"password": "pas le bon mot de passe"})
    assert wrong.status_code == 401
    assert parent.get("/api/me").status_code == 200
    token_value = parent.jar["ef_session"]
    deleted = parent.request("DELETE", "/api/me", json={"password": PASSWORD})
    assert deleted.status_code == 204
    assert parent.get("/api/me", headers={"cookie": f"ef_session={token_value}"}).status_code == 403
    assert Client(stack.url).post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 401
    ddb = stack.aws.client("dynamodb")
    left = ddb.get_item(
        TableName=stack.resource_name("Table"), Key={"PK": {"S": f"EMAIL#{email}"}, "SK": {"S": "EMAIL"}}
    )
    assert "Item" not in left
    # The address is free again.
    again = signed_up(stack.url, email=email)
    assert again.get("/api/me").status_code == 200


def test_logout_then_the_same_cookie_is_refused(stack):
    parent = signed_up(stack.url)
    value = parent.jar["ef_session"]
    assert parent.delete("/api/session").status_code == 204
    assert Client(stack.url).get("/api/me", headers={"cookie": f"ef_session={value}"}).status_code == 403


def test_argon2_is_used_for_hashes(stack):
    parent = signed_up(stack.url)
    ddb = stack.aws.client("dynamodb")
    pointer = ddb.get_item(
        TableName=stack.resource_name("Table"),
        Key={"PK": {"S": f"EMAIL#{parent.email}"}, "SK": {"S": "EMAIL"}},  # type: ignore[attr-defined]
    )["Item"]
    account = ddb.get_item(
        TableName=stack.resource_name("Table"),
        Key={"PK": {"S": f"ACCT#{pointer['account_id']['S']}"}, "SK": {"S": "ACCT"}},
    )["Item"]
    assert account["password_hash"]["S"].startswith("$argon2id$v=19$m=65536,t=3,p=1$")
    assert PASSWORD not in str(account)


def test_no_write_happens_for_refused_requests(stack):
    client = Client(stack.url)
    reset_calls(client)
    client.post("/api/accounts", content=b"{bad", headers={"content-type": "application/json"})
    client.post("/api/session", json={"email": "pas-un-email", "password": PASSWORD})
    client.post("/api/accounts/confirm", json={"token": "A" * 43})
    assert not {k: v for k, v in calls(client).items() if k in WRITES}

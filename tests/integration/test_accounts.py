"""Accounts and sessions through the local gateway: flows, same answers, throttling, revocation, RGPD."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.support import (
    DEVICE_COOKIE,
    PASSWORD,
    SESSION_COOKIE,
    Client,
    aws_calls,
    calls,
    confirmation_token,
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


def _confirm(client: Client, token: str, password: str = PASSWORD, name: str = "Parent"):
    return client.post("/api/accounts/confirm", json={"token": token, "password": password, "display_name": name})


def _cookie_attributes(response, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def test_create_confirm_me_logout_login(stack):
    client = Client(stack.url)
    email = unique_email()
    created = client.post("/api/accounts", json={"email": f"  {email.upper()} "})
    assert created.status_code == 202
    assert created.json() == {"status": "confirmation_sent"}
    mail = wait_for_mail(client, email)
    assert len(mail) == 1
    assert mail[0]["sent_at"]
    token = link_token(mail[0]["text"], f"{stack.url}/compte/confirmer")

    # Not confirmed: no password yet, so a login answers exactly as for an unknown address.
    early = client.post("/api/session", json={"email": email, "password": PASSWORD})
    assert early.status_code == 401
    assert early.json() == {"error": "invalid_credentials", "message": "Adresse e-mail ou mot de passe incorrect."}

    confirmed = _confirm(client, token, name=" Jérôme ")
    assert confirmed.status_code == 204
    session_cookie = _cookie_attributes(confirmed, SESSION_COOKIE)
    for part in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=43200"):
        assert part in session_cookie.split("; ")
    assert "Domain" not in session_cookie
    device_cookie = _cookie_attributes(confirmed, DEVICE_COOKIE)
    for part in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/", f"Max-Age={180 * 24 * 3600}"):
        assert part in device_cookie.split("; ")
    token_value = client.jar[SESSION_COOKIE]
    assert len(token_value) == 43

    me = client.get("/api/me")
    assert me.status_code == 200
    assert me.json() == {"account": {"email": email, "display_name": "Jérôme"}, "regies": []}

    out = client.delete("/api/session")
    assert out.status_code == 204
    assert "Max-Age=0" in _cookie_attributes(out, SESSION_COOKIE)
    # The browser dropped the session cookie (it keeps its device cookie, so the authorizer runs and
    # denies: 403); a copy kept elsewhere is revoked server-side.
    assert SESSION_COOKIE not in client.jar
    assert client.get("/api/me").status_code == 403
    replay = client.get("/api/me", headers={"cookie": f"{SESSION_COOKIE}={token_value}"})
    assert replay.status_code == 403
    assert replay.json() == {"message": "Forbidden"}

    logged = client.post("/api/session", json={"email": email.upper(), "password": PASSWORD})
    assert logged.status_code == 200
    assert logged.json() == {"account": {"email": email, "display_name": "Jérôme"}}
    assert "Max-Age=43200" in _cookie_attributes(logged, SESSION_COOKIE).split("; ")
    # The browser has a device cookie for this account already: no new one.
    assert DEVICE_COOKIE not in logged.headers.get("set-cookie", "")


def test_creation_takes_the_address_only(stack):
    client = Client(stack.url)
    email = unique_email()
    reset_calls(client)
    reset_queued(client)
    for extra in ({"password": PASSWORD}, {"display_name": "Parent"}):
        refused = client.post("/api/accounts", json={"email": email, **extra})
        assert refused.status_code == 422
        assert refused.json()["error"] == "validation_error"
    assert queued(client) == 0
    assert not {k: v for k, v in calls(client).items() if k in WRITES}


def test_nothing_an_attacker_sets_before_the_owner_confirms_survives(stack):
    email = unique_email("victim")
    attacker = Client(stack.url)
    assert attacker.post("/api/accounts", json={"email": email}).status_code == 202
    # The attacker cannot confirm (the link went to the victim's mailbox) nor log in (no password exists).
    assert attacker.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 401
    owner = Client(stack.url)
    token = link_token(wait_for_mail(owner, email)[-1]["text"], "/compte/confirmer")
    assert _confirm(owner, token, password="ma propre phrase de passe", name="Claire").status_code == 204
    assert owner.get("/api/me").json()["account"] == {"email": email, "display_name": "Claire"}
    assert attacker.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 401


def test_a_second_creation_sends_a_new_link_and_revokes_the_old_one(stack):
    client = Client(stack.url)
    email = unique_email()
    first = confirmation_token(client, email)
    second = confirmation_token(Client(stack.url), email)
    assert first != second
    old = _confirm(client, first)
    assert old.status_code == 400
    assert old.json()["error"] == "invalid_token"
    assert _confirm(client, second).status_code == 204


def test_confirmation_token_is_single_use(stack):
    client = Client(stack.url)
    token = confirmation_token(client, unique_email())
    assert _confirm(client, token).status_code == 204
    again = _confirm(Client(stack.url), token, password="une autre phrase de passe", name="Autre")
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("password", "email"),
    [
        ("aaaaaaaaaaaa", None),
        ("123456789012", None),
        ("motdepasse12", None),
        ("Jerome.Lacroix1", "jerome.lacroix"),
    ],
)
def test_confirmation_refuses_weak_passwords(stack, password, email):
    client = Client(stack.url)
    address = f"{email}.{uuid.uuid4().hex[:6]}@example.org" if email else unique_email()
    token = confirmation_token(client, address)
    reset_calls(client)
    weak = _confirm(client, token, password=password)
    assert weak.status_code == 422
    assert weak.json()["error"] == "validation_error"
    assert "« password » : mot de passe trop faible" in weak.json()["message"]
    assert "Choisissez" in weak.json()["message"]
    assert not {k: v for k, v in calls(client).items() if k in WRITES}
    # The link still works with a good passphrase.
    assert _confirm(client, token, password="cheval agrafe pile correcte").status_code == 204


def test_taken_email_answers_the_same_and_mails_a_notice(stack):
    first = signed_up(stack.url)
    email = first.email  # type: ignore[attr-defined]
    other = Client(stack.url)
    response = other.post("/api/accounts", json={"email": email})
    assert response.status_code == 202
    assert response.json() == {"status": "confirmation_sent"}
    got = wait_for_mail(other, email, count=2)
    assert "déjà un compte" in got[-1]["subject"]
    assert "token=" not in got[-1]["text"]
    assert other.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 200


def test_mails_to_one_address_are_capped(stack):
    email = unique_email()
    reset_queued(Client(stack.url))
    for _ in range(5):
        assert Client(stack.url).post("/api/accounts", json={"email": email}).status_code == 202
    # Counted where the decision is made (the queue), not in the mailbox, which fills later.
    assert queued(Client(stack.url)) == 3
    assert len(wait_for_mail(Client(stack.url), email, count=3)) == 3


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
        r = client.post("/api/accounts", json={"email": unique_email()})
        assert r.status_code == 202
    email = unique_email()
    reset_queued(client)
    blocked = client.post("/api/accounts", json={"email": email})
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"]
    assert queued(client) == 0


def test_ten_simultaneous_creations_of_one_email_leave_one_working_link(stack):
    email = unique_email("race")
    statuses: list[int] = []

    def create(i: int) -> None:
        with Client(stack.url) as c:
            statuses.append(c.post("/api/accounts", json={"email": email}).status_code)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [202] * 10
    client = Client(stack.url)
    # Three mails at most to one address an hour; each new link revokes the one before.
    got = wait_for_mail(client, email, count=3)
    tokens = [link_token(m["text"], "/compte/confirmer") for m in got]
    assert len(tokens) == 3
    answers = [_confirm(Client(stack.url), t).status_code for t in tokens]
    assert sorted(answers) == [204, 400, 400]
    table = stack.aws.client("dynamodb")
    item = table.get_item(
        TableName=stack.resource_name("Table"), Key={"PK": {"S": f"EMAIL#{email}"}, "SK": {"S": "EMAIL"}}
    )
    assert item["Item"]["confirmed"] == {"BOOL": True}


def test_fifty_parallel_guesses_get_five_password_checks(stack):
    parent = signed_up(stack.url)
    email = parent.email  # type: ignore[attr-defined]
    answers: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def guess() -> None:
        with Client(stack.url) as c:
            r = c.post("/api/session", json={"email": email, "password": "mauvais mot de passe"})
            with lock:
                answers.append((r.status_code, r.headers.get("retry-after")))

    threads = [threading.Thread(target=guess) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [s for s, _ in answers]
    assert len(statuses) == 50
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 5
    assert all(int(after) > 0 for s, after in answers if s == 429 and after is not None)
    assert all(after is not None for s, after in answers if s == 429)
    # The owner's browser, which has its device cookie, is not locked out.
    assert parent.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 200


def _in_parallel(count: int, request) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        status = request()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_parallel_creations_and_reset_requests_from_one_ip_stop_at_the_limit(stack):
    ip = Client(stack.url).ip

    def create() -> int:
        with Client(stack.url, ip=ip) as c:
            return c.post("/api/accounts", json={"email": unique_email()}).status_code

    def reset() -> int:
        with Client(stack.url, ip=ip) as c:
            return c.post("/api/password-resets", json={"email": unique_email()}).status_code

    for request in (create, reset):
        statuses = _in_parallel(20, request)
        assert set(statuses) <= {202, 429}
        assert 1 <= statuses.count(202) <= 10, statuses


def test_a_hundred_failures_from_a_hundred_ips_never_stop_the_trusted_browser(stack):
    parent = signed_up(stack.url)
    email = parent.email  # type: ignore[attr-defined]
    for _ in range(100):
        r = Client(stack.url).post("/api/session", json={"email": email, "password": "mauvais mot de passe"})
        assert r.status_code in (401, 429)
    assert parent.post("/api/session", json={"email": email, "password": PASSWORD}).status_code == 200
    # A new browser is limited.
    newcomer = Client(stack.url)
    blocked = newcomer.post("/api/session", json={"email": email, "password": PASSWORD})
    assert blocked.status_code == 429
    # A completed reset lifts the limit.
    assert newcomer.post("/api/password-resets", json={"email": email}).status_code == 202
    token = link_token(wait_for_mail(newcomer, email, count=2)[-1]["text"], "/mot-de-passe/nouveau")
    new_password = "un nouveau mot de passe solide"
    assert (
        newcomer.post("/api/password-resets/confirm", json={"token": token, "password": new_password}).status_code
        == 204
    )
    assert newcomer.post("/api/session", json={"email": email, "password": new_password}).status_code == 200


def test_a_bad_session_cookie_does_not_shadow_a_good_one(stack):
    parent = signed_up(stack.url)
    good = parent.jar[SESSION_COOKIE]
    revoked = signed_up(stack.url)
    stale = revoked.jar[SESSION_COOKIE]
    assert revoked.delete("/api/session").status_code == 204
    for cookie in (
        f"{SESSION_COOKIE}={'Z' * 43}; {SESSION_COOKIE}={good}",
        f"{SESSION_COOKIE}={stale}; {SESSION_COOKIE}=court; {SESSION_COOKIE}={good}",
    ):
        assert Client(stack.url).get("/api/me", headers={"cookie": cookie}).status_code == 200
    # Bounded: a good cookie behind three well-formed bad ones is not looked for.
    bad = "; ".join(f"{SESSION_COOKIE}={c * 43}" for c in "XYZ")
    assert Client(stack.url).get("/api/me", headers={"cookie": f"{bad}; {SESSION_COOKIE}={good}"}).status_code == 403


def _same_calls(client: Client, function: str, first, second) -> list[dict[str, str]]:
    """Runs both requests and asserts that the function made the same AWS calls (DynamoDB, queue, mail), in order."""
    sequences = []
    for request in (first, second):
        reset_calls(client)
        assert request().status_code in (202, 401)
        sequences.append([(c["service"], c["operation"]) for c in aws_calls(client) if c["caller"] == function])
    assert sequences[0] == sequences[1], sequences
    return [{"service": s, "operation": o} for s, o in sequences[0]]


def test_reset_request_does_the_same_work_for_known_and_unknown_addresses(stack):
    parent = signed_up(stack.url)
    client = Client(stack.url)
    made = _same_calls(
        client,
        "AccountsFunction",
        lambda: client.post("/api/password-resets", json={"email": parent.email}),  # type: ignore[attr-defined]
        lambda: client.post("/api/password-resets", json={"email": unique_email()}),
    )
    operations = [c["operation"] for c in made]
    assert operations[-2] == "TransactWriteItems"
    assert operations[-1] in ("SendEmail", "SendMessage")  # the mail, sent or queued, on both paths


def test_creation_does_the_same_work_for_new_and_taken_addresses(stack):
    parent = signed_up(stack.url)
    client = Client(stack.url)
    made = _same_calls(
        client,
        "AccountsFunction",
        lambda: client.post("/api/accounts", json={"email": parent.email}),  # type: ignore[attr-defined]
        lambda: client.post("/api/accounts", json={"email": unique_email()}),
    )
    assert [c["operation"] for c in made][-2:][0] == "TransactWriteItems"


def test_login_does_the_same_work_for_unknown_and_pending_addresses_and_wrong_passwords(stack):
    parent = signed_up(stack.url)
    pending = unique_email()
    assert Client(stack.url).post("/api/accounts", json={"email": pending}).status_code == 202
    client = Client(stack.url)
    made = _same_calls(
        client,
        "SessionFunction",
        lambda: client.post("/api/session", json={"email": parent.email, "password": "mauvais mot de passe"}),  # type: ignore[attr-defined]
        lambda: client.post("/api/session", json={"email": unique_email(), "password": "mauvais mot de passe"}),
    )
    assert [c["operation"] for c in made].count("GetItem") == 2
    _same_calls(
        client,
        "SessionFunction",
        lambda: client.post("/api/session", json={"email": pending, "password": "mauvais mot de passe"}),
        lambda: client.post("/api/session", json={"email": unique_email(), "password": "mauvais mot de passe"}),
    )


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
    guessable = stranger.post("/api/password-resets/confirm", json={"token": token, "password": "motdepasse12"})
    assert guessable.status_code == 422
    assert "mot de passe trop faible" in guessable.json()["message"]
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
        "/api/me/password",
        json={"current_password": "pas le bon mot de passe", "new_password": "cheval agrafe pile correcte"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_credentials"
    weak = parent.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "court"})
    assert weak.status_code == 422
    guessable = parent.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "123456789012"})
    assert guessable.status_code == 422
    assert "« new_password » : mot de passe trop faible" in guessable.json()["message"]
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
    assert len(data["devices"]) == 1
    assert set(data) >= {"links", "hidden_invoices", "payments", "exported_at"}
    assert "password" not in exported.text
    assert parent.jar[SESSION_COOKIE] not in exported.text


def test_account_deletion(stack):
    parent = signed_up(stack.url)
    email = parent.email  # type: ignore[attr-defined]
    wrong = parent.request("DELETE", "/api/me", json={"password": "pas le bon mot de passe"})
    assert wrong.status_code == 401
    assert parent.get("/api/me").status_code == 200
    token_value = parent.jar[SESSION_COOKIE]
    deleted = parent.request("DELETE", "/api/me", json={"password": PASSWORD})
    assert deleted.status_code == 204
    assert parent.get("/api/me", headers={"cookie": f"{SESSION_COOKIE}={token_value}"}).status_code == 403
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
    value = parent.jar[SESSION_COOKIE]
    assert parent.delete("/api/session").status_code == 204
    assert Client(stack.url).get("/api/me", headers={"cookie": f"{SESSION_COOKIE}={value}"}).status_code == 403


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
    client.post("/api/accounts/confirm", json={"token": "A" * 43, "password": PASSWORD, "display_name": "P"})
    assert not {k: v for k, v in calls(client).items() if k in WRITES}

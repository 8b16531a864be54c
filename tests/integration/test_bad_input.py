"""Bad input on the accounts routes: exact status and error code, and nothing written (the contract in docs/api.md)."""

from __future__ import annotations

import json
import re

import pytest

from infra.cfn import load_yaml
from tests.support import PASSWORD, ROOT, SESSION_COOKIE, Client, calls, reset_calls, signed_up

pytestmark = pytest.mark.integration

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
GOOD = {
    "/api/accounts": {"email": "quelquun@example.org"},
    "/api/accounts/confirm": {"token": "A" * 43, "password": PASSWORD, "display_name": "Quelqu'un"},
    "/api/session": {"email": "quelquun@example.org", "password": PASSWORD},
    "/api/password-resets": {"email": "quelquun@example.org"},
    "/api/password-resets/confirm": {"token": "A" * 43, "password": PASSWORD},
}
JSON = {"content-type": "application/json"}


def _with(path: str, **changes: object) -> dict:
    body: dict[str, object] = dict(GOOD[path])
    for k, v in changes.items():
        if v is _DROP:
            body.pop(k)
        else:
            body[k] = v
    return body


_DROP = object()

CASES = [
    # (id, path, raw body, headers, status, code)
    ("malformed-json", "/api/accounts", b'{"email": "a@b.fr",', JSON, 400, "invalid_json"),
    ("malformed-json-session", "/api/session", b"{'email': 1}", JSON, 400, "invalid_json"),
    ("json-array", "/api/accounts", b"[]", JSON, 422, "validation_error"),
    ("json-string", "/api/session", b'"bonjour"', JSON, 422, "validation_error"),
    ("json-number", "/api/password-resets", b"42", JSON, 422, "validation_error"),
    ("json-null", "/api/accounts/confirm", b"null", JSON, 422, "validation_error"),
    ("empty-body", "/api/accounts", b"", JSON, 422, "validation_error"),
    ("missing-email", "/api/accounts", _with("/api/accounts", email=_DROP), JSON, 422, "validation_error"),
    ("missing-password", "/api/session", _with("/api/session", password=_DROP), JSON, 422, "validation_error"),
    ("missing-token", "/api/accounts/confirm", {}, JSON, 422, "validation_error"),
    ("extra-field", "/api/accounts", _with("/api/accounts", admin=True), JSON, 422, "validation_error"),
    ("extra-field-reset", "/api/password-resets", _with("/api/password-resets", x=1), JSON, 422, "validation_error"),
    ("email-number", "/api/accounts", _with("/api/accounts", email=5), JSON, 422, "validation_error"),
    ("password-list", "/api/session", _with("/api/session", password=["x"]), JSON, 422, "validation_error"),
    (
        "name-object",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", display_name={"a": 1}),
        JSON,
        422,
        "validation_error",
    ),
    (
        "token-number",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", token=12345),
        JSON,
        422,
        "validation_error",
    ),
    (
        "password-at-creation",
        "/api/accounts",
        _with("/api/accounts", password=PASSWORD),
        JSON,
        422,
        "validation_error",
    ),
    (
        "name-at-creation",
        "/api/accounts",
        _with("/api/accounts", display_name="Votre compte est suspendu"),
        JSON,
        422,
        "validation_error",
    ),
    ("email-comma", "/api/accounts", _with("/api/accounts", email="a,b@x.fr"), JSON, 422, "validation_error"),
    ("email-comma-reset", "/api/password-resets", {"email": "a,b@x.fr"}, JSON, 422, "validation_error"),
    ("email-no-tld", "/api/accounts", _with("/api/accounts", email="a@b"), JSON, 422, "validation_error"),
    (
        "name-with-a-link",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", display_name="Votre compte est suspendu : https://evil.example/login"),
        JSON,
        422,
        "validation_error",
    ),
    (
        "name-bidi-override",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", display_name="Jean\u202eenreH"),
        JSON,
        422,
        "validation_error",
    ),
    (
        "email-without-at",
        "/api/accounts",
        _with("/api/accounts", email="parent.example.org"),
        JSON,
        422,
        "validation_error",
    ),
    ("email-without-at-login", "/api/session", _with("/api/session", email="parent"), JSON, 422, "validation_error"),
    ("email-without-at-reset", "/api/password-resets", {"email": "x"}, JSON, 422, "validation_error"),
    (
        "name-empty",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", display_name=""),
        JSON,
        422,
        "validation_error",
    ),
    (
        "name-blank",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", display_name="   "),
        JSON,
        422,
        "validation_error",
    ),
    (
        "name-101",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", display_name="é" * 101),
        JSON,
        422,
        "validation_error",
    ),
    (
        "name-500",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", display_name="é" * 500),
        JSON,
        422,
        "validation_error",
    ),
    (
        "name-control",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", display_name="Jean\x00Pierre"),
        JSON,
        422,
        "validation_error",
    ),
    (
        "name-escape",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", display_name="Jean\x1b[31m"),
        JSON,
        422,
        "validation_error",
    ),
    ("email-control", "/api/accounts", _with("/api/accounts", email="a\x07@b.fr"), JSON, 422, "validation_error"),
    (
        "password-short",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", password="x" * 11),
        JSON,
        422,
        "validation_error",
    ),
    (
        "password-257",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", password="x" * 257),
        JSON,
        422,
        "validation_error",
    ),
    (
        "password-control",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", password="abcdefghijk\x00l"),
        JSON,
        422,
        "validation_error",
    ),
    (
        "reset-password-short",
        "/api/password-resets/confirm",
        _with("/api/password-resets/confirm", password="x"),
        JSON,
        422,
        "validation_error",
    ),
    (
        "too-large",
        "/api/accounts",
        {"token": "A" * 43, "password": PASSWORD, "display_name": "x" * (65 * 1024)},
        JSON,
        413,
        "payload_too_large",
    ),
    ("too-large-login", "/api/session", b"{" + b" " * (64 * 1024 + 1) + b"}", JSON, 413, "payload_too_large"),
    (
        "text-plain",
        "/api/accounts",
        GOOD["/api/accounts"],
        {"content-type": "text/plain"},
        415,
        "unsupported_media_type",
    ),
    (
        "form",
        "/api/session",
        b"email=a%40b.fr&password=x",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
    ),
    (
        "no-content-type",
        "/api/password-resets",
        GOOD["/api/password-resets"],
        {"content-type": ""},
        415,
        "unsupported_media_type",
    ),
    (
        "foreign-origin",
        "/api/accounts",
        GOOD["/api/accounts"],
        {**JSON, "origin": "https://evil.example"},
        403,
        "bad_origin",
    ),
    (
        "foreign-origin-login",
        "/api/session",
        GOOD["/api/session"],
        {**JSON, "origin": "http://127.0.0.1:1"},
        403,
        "bad_origin",
    ),
    ("forged-token", "/api/accounts/confirm", GOOD["/api/accounts/confirm"], JSON, 400, "invalid_token"),
    (
        "malformed-token",
        "/api/accounts/confirm",
        _with("/api/accounts/confirm", token="pas-un-jeton"),
        JSON,
        400,
        "invalid_token",
    ),
    ("confirm-without-password", "/api/accounts/confirm", {"token": "A" * 43}, JSON, 422, "validation_error"),
    (
        "forged-reset-token",
        "/api/password-resets/confirm",
        {"token": "B" * 43, "password": PASSWORD},
        JSON,
        400,
        "invalid_token",
    ),
    (
        "token-too-long",
        "/api/password-resets/confirm",
        {"token": "C" * 201, "password": PASSWORD},
        JSON,
        422,
        "validation_error",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(stack, path, body, headers, status, code):
    client = Client(stack.url)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    reset_calls(client)
    response = client.post(path, content=content, headers=headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error"] == code
    assert isinstance(payload["message"], str) and payload["message"]
    assert set(payload) == {"error", "message"}
    assert not {k: v for k, v in calls(client).items() if k in WRITES}, "a refused request wrote something"


def test_same_origin_is_accepted(stack):
    client = Client(stack.url)
    response = client.post(
        "/api/password-resets", json={"email": "personne@example.org"}, headers={"origin": stack.url}
    )
    assert response.status_code == 202


@pytest.fixture(scope="module")
def parent(stack):
    return signed_up(stack.url)


AUTHED = [
    ("change-malformed", "POST", "/api/me/password", b"{", JSON, 400, "invalid_json"),
    ("change-missing", "POST", "/api/me/password", b'{"current_password": "x"}', JSON, 422, "validation_error"),
    (
        "change-weak",
        "POST",
        "/api/me/password",
        json.dumps({"current_password": PASSWORD, "new_password": "a"}).encode(),
        JSON,
        422,
        "validation_error",
    ),
    (
        "change-guessable",
        "POST",
        "/api/me/password",
        json.dumps({"current_password": PASSWORD, "new_password": "motdepasse12"}).encode(),
        JSON,
        422,
        "validation_error",
    ),
    ("change-origin", "POST", "/api/me/password", b"{}", {**JSON, "origin": "https://evil.example"}, 403, "bad_origin"),
    ("delete-text", "DELETE", "/api/me", b"password", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
    ("delete-missing", "DELETE", "/api/me", b"{}", JSON, 422, "validation_error"),
    (
        "delete-extra",
        "DELETE",
        "/api/me",
        json.dumps({"password": PASSWORD, "force": True}).encode(),
        JSON,
        422,
        "validation_error",
    ),
    ("unlink-unknown", "DELETE", "/api/me/regies/abcdef", b"", {}, 404, "not_found"),
    ("unlink-too-long", "DELETE", "/api/me/regies/" + "a" * 300, b"", {}, 404, "not_found"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "code"), [c[1:] for c in AUTHED], ids=[c[0] for c in AUTHED]
)
def test_bad_input_with_a_session(stack, parent, method, path, body, headers, status, code):
    reset_calls(parent)
    response = parent.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert not {k: v for k, v in calls(parent).items() if k in WRITES}
    assert parent.get("/api/me").status_code == 200


# -- default deny -------------------------------------------------------------------------------------
# Only these may skip the session authorizer (docs/security.md).
ALLOWED_PUBLIC = {
    "POST /api/accounts",
    "POST /api/accounts/confirm",
    "POST /api/session",
    "DELETE /api/session",
    "POST /api/password-resets",
    "POST /api/password-resets/confirm",
    "POST /webhooks/payfip",
    "GET /api/health",
    "GET /",
    "GET /{proxy+}",
    "GET /static/{proxy+}",
    "GET /paiement/retour",
    "POST /paiement/retour",
    "GET /compte/confirmer",
    "GET /mot-de-passe/nouveau",
    "GET /mentions-legales",
    "GET /accessibilite",
}


def _routes():
    template = load_yaml(ROOT / "template.yaml")
    for logical_id, res in template["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (res["Properties"].get("Events") or {}).values():
            if event["Type"] != "HttpApi":
                continue
            props = event["Properties"]
            public = (props.get("Auth") or {}).get("Authorizer") == "NONE"
            yield logical_id, props["Method"].upper(), props["Path"], public


def test_public_routes_are_only_those_design_allows():
    public = {f"{m} {p}" for _, m, p, pub in _routes() if pub}
    assert public <= ALLOWED_PUBLIC, public - ALLOWED_PUBLIC
    assert "GET /api/health" in public


@pytest.mark.parametrize(("function", "method", "path"), [(f, m, p) for f, m, p, pub in _routes() if not pub])
def test_every_private_route_needs_a_session(stack, function, method, path):
    concrete = re.sub(r"\{[^}]+\}", "abc", path)
    client = Client(stack.url)
    anonymous = client.request(method, concrete, json={} if method in ("POST", "PUT", "DELETE") else None)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"message": "Unauthorized"}
    forged = client.request(method, concrete, headers={"cookie": f"{SESSION_COOKIE}=" + "Z" * 43})
    assert forged.status_code == 403
    assert forged.json() == {"message": "Forbidden"}
    garbage = client.request(method, concrete, headers={"cookie": f"autre=1; {SESSION_COOKIE}=court"})
    assert garbage.status_code == 403


# -- every state-changing JSON route: content types and deep JSON -------------------------------------
def _json_routes():
    for _, method, path, public in _routes():
        if method in ("POST", "PUT", "PATCH", "DELETE") and path.startswith("/api/"):
            yield method, path, public


DEEP = ('{"email": ' + "[" * 1000 + "]" * 1000 + "}").encode()  # about 2 KB
ACCEPTED_TYPES = ("Application/Json", "application/json; charset=UTF-8")
REFUSED_TYPES = ("application/vnd.api+json", "text/plain", "application/json; charset=latin-1")


def _envelope(response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.headers
    payload = response.json()
    assert set(payload) == {"error", "message"}, payload
    return payload


@pytest.mark.parametrize(("method", "path", "public"), list(_json_routes()))
def test_every_json_route_answers_in_the_envelope(stack, method, path, public):
    concrete = re.sub(r"\{[^}]+\}", "abc", path)
    client = Client(stack.url) if public else signed_up(stack.url)
    reset_calls(client)
    deep = client.request(method, concrete, content=DEEP, headers=JSON)
    assert (deep.status_code, _envelope(deep)["error"]) == (400, "invalid_json")
    for content_type in REFUSED_TYPES:
        refused = client.request(method, concrete, content=b"{}", headers={"content-type": content_type})
        assert (refused.status_code, _envelope(refused)["error"]) == (415, "unsupported_media_type"), content_type
    assert not {k: v for k, v in calls(client).items() if k in WRITES}
    for content_type in ACCEPTED_TYPES:
        for content in (b"{}", b""):
            # Wrong for most routes, but read as JSON: never Powertools' own 415.
            accepted = client.request(method, concrete, content=content, headers={"content-type": content_type})
            assert accepted.status_code not in (415, 500), (content_type, content, accepted.text)
            if accepted.status_code >= 400:
                _envelope(accepted)
            elif not public:
                client = signed_up(stack.url)  # what succeeded may have ended the session (logout)

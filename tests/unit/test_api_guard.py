"""The request guard of API functions: body size, content type, JSON, Origin."""

from __future__ import annotations

import base64
import json

import pytest

from espace_famille import api, config


@pytest.fixture(autouse=True)
def site(monkeypatch):
    monkeypatch.setenv("SITE_URL", "https://famille.jolieville.fr")
    config.settings.cache_clear()
    yield
    config.settings.cache_clear()


def event(method="POST", body=None, headers=None, b64=False):
    return {
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"http": {"method": method}, "domainName": "abc.execute-api.eu-west-3.amazonaws.com"},
        "body": body,
        "isBase64Encoded": b64,
    }


def code(ev):
    err = api.guard(ev)
    return None if err is None else err.code


def test_reads_are_never_guarded():
    assert code(event("GET", body="not json", headers={"content-type": "text/plain", "origin": "https://x"})) is None


def test_json_body_passes():
    assert code(event(body='{"a": 1}')) is None
    assert code(event(body='{"a": 1}', headers={"content-type": "application/json; charset=utf-8"})) is None
    assert code(event(body="{}", headers={"origin": "https://famille.jolieville.fr"})) is None


def test_no_body_passes():
    assert code(event("DELETE", body=None, headers={"content-type": ""})) is None


@pytest.mark.parametrize(
    "ev, expected",
    [
        (event(body="{}", headers={"origin": "https://evil.example"}), "bad_origin"),
        (event(body="{}", headers={"origin": "https://famille.jolieville.fr.evil.example"}), "bad_origin"),
        (event(body="{}", headers={"content-type": "text/plain"}), "unsupported_media_type"),
        (event(body=base64.b64encode(b"{}").decode(), b64=True), "unsupported_media_type"),
        (event(body="{" + " " * 65536 + "}"), "payload_too_large"),
        (event(body="{bad"), "invalid_json"),
    ],
)
def test_refusals(ev, expected):
    assert code(ev) == expected


def test_site_url_falls_back_to_the_request(monkeypatch):
    monkeypatch.setenv("SITE_URL", "")
    config.settings.cache_clear()
    ev = event(
        body="{}", headers={"origin": "https://abc.execute-api.eu-west-3.amazonaws.com", "x-forwarded-proto": "https"}
    )
    assert api.site_url(ev) == "https://abc.execute-api.eu-west-3.amazonaws.com"
    assert code(ev) is None


def test_validation_message_names_fields_in_french():
    message = api.validation_message(
        [{"type": "missing", "loc": ("body", "email")}, {"type": "extra_forbidden", "loc": ("body", "x")}]
    )
    assert "« email » : obligatoire" in message
    assert "« x » : non autorisé" in message


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/Json",
        "APPLICATION/JSON; charset=UTF-8",
        "application/json;charset=utf-8",
        'application/json; charset="utf-8"',
    ],
)
def test_json_content_types_pass_and_reach_powertools_as_it_expects(content_type):
    for body in ("{}", None):
        ev = event(body=body, headers={"content-type": content_type})
        assert code(ev) is None
        # Powertools compares the header case-sensitively: it gets the one form it knows.
        assert [v for k, v in ev["headers"].items() if k.lower() == "content-type"] == ["application/json"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.api+json",
        "application/problem+json",
        "application/json; charset=latin-1",
        "application/jsonp",
        "application/json-seq",
        "text/json",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "",
    ],
)
def test_other_content_types_are_refused_in_the_envelope(content_type):
    assert code(event(body="{}", headers={"content-type": content_type})) == "unsupported_media_type"


@pytest.mark.parametrize("depth", [33, 1000, 100_000 // 2])
def test_deep_json_is_invalid_json_without_recursion(depth):
    body = "[" * depth + "]" * depth
    assert code(event(body=body[: api.MAX_BODY_BYTES])) == "invalid_json"
    assert code(event(body='{"a":' + "{" * depth + "}" * depth + "}")) in ("invalid_json", "payload_too_large")


def test_json_at_the_depth_bound_passes():
    depth = api.MAX_JSON_DEPTH
    assert code(event(body="[" * depth + "]" * depth)) is None


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[{{{{"}', 1),
        ('{"a": "\\"[[[["}', 1),
        ('{"a": "\\\\", "b": [[]]}', 3),
        ('"' + '\\"' * 1000, 0),
        ("42", 0),
    ],
)
def test_json_depth_ignores_brackets_in_strings(text, depth):
    assert api.json_depth(text) == depth


def _answer(status, body, content_type="application/json"):
    return {"statusCode": status, "headers": {"Content-Type": content_type}, "body": body, "isBase64Encoded": False}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            415,
            '{"statusCode":415,"detail":[{"loc":["body"],"type":"unsupported_content_type"}]}',
            "unsupported_media_type",
        ),
        (422, '{"statusCode":422,"detail":[]}', "validation_error"),
        (404, '{"statusCode":404,"message":"Not found"}', "not_found"),
        (405, '{"statusCode":405,"message":"Method not allowed"}', "method_not_allowed"),
        (500, "Traceback (most recent call last): …", "internal_error"),
        (418, "", "error"),
    ],
)
def test_any_other_error_answer_is_put_in_the_envelope(status, body, expected):
    result = api.in_envelope({**_answer(status, body), "cookies": ["a=b"]})
    assert result["statusCode"] == status
    assert json.loads(result["body"])["error"] == expected
    assert set(json.loads(result["body"])) == {"error", "message"}
    assert result["headers"]["Content-Type"] == "application/json"
    assert result["cookies"] == ["a=b"]


def test_envelopes_successes_and_pages_are_left_as_they_are():
    ours = _answer(404, json.dumps({"error": "not_found", "message": "Ressource introuvable."}))
    assert api.in_envelope(ours) is ours
    ok = _answer(200, '{"statusCode": 1}')
    assert api.in_envelope(ok) is ok
    page = _answer(404, "<!doctype html><p>Page introuvable</p>", "text/html; charset=utf-8")
    assert api.in_envelope(page) is page

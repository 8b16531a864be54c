"""The request guard of API functions: body size, content type, JSON, Origin (DESIGN §6)."""

from __future__ import annotations

import base64

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

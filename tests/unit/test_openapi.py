"""docs/openapi.json: current with the handlers, a valid OpenAPI 3.1 document, and saying what the template says."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from infra.cfn import load_template
from infra.openapi import DOCUMENT, ERRORS, SESSION_COOKIE
from tests.support import ROOT


@pytest.fixture(scope="module")
def document():
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_the_committed_document_is_the_generated_one():
    # In a process of its own: importing every function's module sets each one's environment.
    done = subprocess.run(
        [sys.executable, "-m", "infra.openapi", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr + "\ndocs/openapi.json is stale: run `make openapi` and commit it."


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    errors = [e.message for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_it_is_written_stably():
    text = DOCUMENT.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def test_its_operations_are_the_template_routes_in_order(document):
    template = load_template(ROOT / "template.yaml")
    routes = [f"{r.method} {r.path}" for r in template.routes]
    documented = [key for key, _ in _operations(document)]
    assert documented == [r for r in routes if r in documented]
    # Left out: only the web page's function (HTML, not the JSON API).
    left_out = {r.function for r in template.routes if f"{r.method} {r.path}" not in documented}
    assert left_out == {"WebFunction"}
    assert len({o["operationId"] for _, o in _operations(document)}) == len(documented)


def test_public_routes_need_no_session_and_the_others_the_cookie(document):
    scheme = document["components"]["securitySchemes"]["session"]
    assert scheme == {**scheme, "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE}
    template = load_template(ROOT / "template.yaml")
    public = {f"{r.method} {r.path}" for r in template.routes if r.authorizer is None}
    for key, operation in _operations(document):
        if key in public:
            assert operation["security"] == [], key
            assert "401" not in operation["responses"] or key in ERRORS, key
        else:
            assert operation["security"] == [{"session": []}], key
            for status, message in (("401", "Unauthorized"), ("403", "Forbidden")):
                text = json.dumps(operation["responses"][status])
                assert "GatewayMessage" in text and f'"const": "{message}"' in text, (key, status)


def test_errors_are_the_envelope_and_throttled_routes_say_retry_after(document):
    throttled = {key for key, errors in ERRORS.items() if 429 in errors}
    assert throttled >= {"POST /api/session", "POST /api/accounts", "POST /api/claims"}
    for key, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400 and status not in ("401", "403"):
                assert "#/components/schemas/ErrorAnswer" in json.dumps(response), (key, status)
        if key in throttled:
            assert operation["responses"]["429"]["headers"]["Retry-After"] == {
                "$ref": "#/components/headers/RetryAfter"
            }
        else:
            assert "429" not in operation["responses"], key
    assert "HTTPValidationError" not in json.dumps(document)  # Powertools' shape, never answered


def test_the_webhook_takes_the_form_payfip_posts(document):
    operation = document["paths"]["/webhooks/payfip"]["post"]
    assert operation["security"] == []
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert "idop" in form["properties"]
    assert {"400", "403", "415"}.isdisjoint(operation["responses"])  # no Origin or JSON check on it


def test_claim_list_detail_hide_are_linked(document):
    def links(path, method, status):
        return document["paths"][path][method]["responses"][status]["links"]

    assert {link["operationId"] for link in links("/api/claims", "post", "201").values()} == {"list_invoices"}
    assert "get_invoice" in {link["operationId"] for link in links("/api/invoices", "get", "200").values()}
    assert {link["operationId"] for link in links("/api/invoices/{invoice_id}", "get", "200").values()} == {"hide"}


def _domain_codes() -> set[str]:
    from espace_famille import api, payments  # noqa: F401 - payments defines its errors
    from espace_famille.errors import DomainError

    classes, seen = [DomainError], set()
    while classes:
        cls = classes.pop()
        seen.add(cls.code)
        classes.extend(cls.__subclasses__())
    return seen | {code for code, _ in api._STATUS_ERRORS.values()}


def test_every_documented_error_code_is_one_the_code_answers(document):
    documented = set()
    for _, operation in _operations(document):
        for response in operation["responses"].values():
            for part in json.loads(json.dumps(response)).get("content", {}).get("application/json", {}).values():
                for branch in part.get("oneOf", [part]):
                    for piece in branch.get("allOf", []):
                        documented |= set(piece.get("properties", {}).get("error", {}).get("enum", []))
    assert documented
    assert documented <= _domain_codes(), documented - _domain_codes()

"""Security headers on every answer of every route of the template, pages and API alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.cfn import load_yaml
from tests.support import ROOT, Client, signed_up

pytestmark = pytest.mark.integration

PAGES = ROOT / "functions" / "web" / "pages"


def _routes() -> list[tuple[str, str, bool]]:
    out = []
    template = load_yaml(ROOT / "template.yaml")
    for res in template["Resources"].values():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (res["Properties"].get("Events") or {}).values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                public = (props.get("Auth") or {}).get("Authorizer") == "NONE"
                out.append((props["Method"].upper(), props["Path"], public))
    # Logging out last: the other routes use the session.
    return sorted(out, key=lambda r: (r[0] == "DELETE" and r[1] == "/api/session", r[1], r[0]))


def _concrete(path: str) -> str:
    return re.sub(r"\{proxy\+\}", "style.css", re.sub(r"\{[a-z_]+\}", "abc", path))


def assert_security_headers(response, personal: bool) -> None:
    h = response.headers
    csp = h.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", csp
    assert directives.get("default-src") == "default-src 'self'", csp
    assert directives.get("script-src") == "script-src 'self'", csp
    assert directives.get("style-src") == "style-src 'self'", csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert h.get("strict-transport-security", "").startswith("max-age=")
    assert int(h["strict-transport-security"].split("=")[1].split(";")[0]) >= 31536000
    assert h.get("x-content-type-options") == "nosniff"
    assert h.get("referrer-policy") in ("no-referrer", "same-origin", "strict-origin-when-cross-origin")
    if personal:
        assert h.get("cache-control") == "no-store", (response.request.url, h.get("cache-control"))


@pytest.fixture(scope="module")
def parent(stack) -> Client:
    return signed_up(stack.url)


@pytest.mark.parametrize(("method", "path", "public"), _routes(), ids=[f"{m} {p}" for m, p, _ in _routes()])
def test_every_route_answers_with_the_security_headers(stack, parent, method, path, public):
    client = Client(stack.url) if public else parent
    body: dict[str, str] | None = {} if method in ("POST", "PUT", "DELETE") and path.startswith("/api/") else None
    response = client.request(method, _concrete(path), json=body, follow_redirects=False)
    assert response.status_code < 500, (method, path, response.status_code, response.text[:300])
    assert response.status_code not in (401, 403) or public, "the session should have been accepted"
    assert_security_headers(response, personal=not path.startswith("/static/"))


def test_the_guards_own_answers_carry_them_too(stack, parent):
    # Rejected before any route runs: 415, 400 and 403 from the request guard.
    for response in (
        parent.post("/api/claims", content=b"x", headers={"content-type": "text/plain"}),
        parent.post("/api/claims", content=b"{", headers={"content-type": "application/json"}),
        parent.post("/api/claims", json={}, headers={"origin": "https://evil.example"}),
        parent.get("/api/nowhere-in-the-template/but/under/api"),
    ):
        if response.status_code == 404 and response.headers.get("content-type", "").startswith("application/json"):
            # The gateway's own "no route" answer: API Gateway adds nothing there either.
            continue
        assert response.status_code in (400, 403, 415), response.text
        assert_security_headers(response, personal=True)


def test_assets_are_revalidated_not_stored_personally(stack):
    response = Client(stack.url).get("/static/js/app.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    assert_security_headers(response, personal=False)


@pytest.mark.parametrize("page", sorted(p.name for p in PAGES.glob("*.html")))
def test_pages_have_no_inline_script_or_style(page):
    html = (PAGES / page).read_text(encoding="utf-8")
    assert '<html lang="fr">' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html), "inline style attribute"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_scripts_never_write_html_from_strings():
    for path in Path(ROOT / "functions" / "web" / "static").rglob("*.js"):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert forbidden not in text, f"{path.name} uses {forbidden}"

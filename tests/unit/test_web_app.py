"""The web function's routes, without the gateway: pages, the provider's POST back, assets, headers."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest
from starlette.testclient import TestClient

from tests.support import ROOT


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("web_app", ROOT / "functions" / "web" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def web() -> TestClient:
    return TestClient(_load().app, base_url="https://portail.example")


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/", 'src="/static/js/app.js"'),
        ("/compte/confirmer?token=abc", "Confirmer mon compte"),
        ("/mot-de-passe/nouveau?token=abc", "Nouveau mot de passe"),
        ("/paiement/retour?payment=abc", "Récapitulatif de votre paiement"),
        ("/mentions-legales", "Mentions légales"),
        ("/accessibilite", "Déclaration d’accessibilité"),
    ],
)
def test_pages(web, path, marker):
    page = web.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert marker in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_the_providers_post_back_becomes_a_get_of_the_same_page(web):
    back = web.post("/paiement/retour?payment=p1&x=2", data={"idop": "abc"}, follow_redirects=False)
    assert back.status_code == 303
    assert back.headers["location"] == "/paiement/retour?payment=p1&x=2"
    assert back.headers["cache-control"] == "no-store"
    assert web.post("/paiement/retour", follow_redirects=False).headers["location"] == "/paiement/retour"


def test_assets_and_what_is_not_there(web):
    css = web.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "no-cache"
    assert css.headers["x-content-type-options"] == "nosniff"
    assert web.get("/static/style.css", headers={"if-none-match": css.headers["etag"]}).status_code == 304
    for path in ("/static/../app.py", "/static/nope.js", "/ailleurs"):
        missing = web.get(path)
        assert missing.status_code == 404
        assert missing.headers["x-content-type-options"] == "nosniff"
    assert web.post("/").status_code == 405

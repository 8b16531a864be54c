"""Browser tests: Debian's Chromium driven by Playwright against the shared local stack."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.support import PASSWORD, ROOT, Client, import_via_s3, link_token, signed_up, wait_for_mail

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
WIDE: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 800}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install Debian's chromium "
            "(apt-get install --no-install-recommends chromium), or run `make test` as root to have it installed."
        )
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, stack: Any) -> Iterator[Page]:
    context = browser.new_context(base_url=stack.url, viewport=WIDE, locale="fr-FR", timezone_id="Europe/Paris")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


_axe = Axe()


def check_screen(page: Page, name: str) -> None:
    """axe-core finds no violation on the screen, at 1280 px and at 375 px; a screenshot of each is kept."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    for label, viewport in (("1280", WIDE), ("375", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        results = _axe.run(page)
        assert results.violations_count == 0, f"{name} at {label} px:\n{results.generate_report()}"
        # Nothing wider than the screen: the page reflows at 375 px (WCAG 1.4.10).
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} at {label} px scrolls sideways by {overflow} px"
    page.set_viewport_size(WIDE)


def screen(page: Page, section_id: str) -> Any:
    return page.locator(f"#{section_id}")


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/")
    login = screen(page, "screen-login")
    login.get_by_label("Identifiant").fill(email)
    login.get_by_label("Mot de passe", exact=True).fill(password)
    login.get_by_role("button", name="Valider").click()
    page.get_by_role("heading", name="L’actualité Famille").wait_for()


@dataclass
class Parent:
    api: Client  # the same account through the API, from its own address (no throttle shared with the browser)
    email: str


def parent_with(stack: Any, *claims: tuple[str, str, str]) -> Parent:
    """An account made through the API, with these claims."""
    client = signed_up(stack.url, name="LACROIX")
    for collectivite, reference, key in claims:
        claimed = client.post("/api/claims", json={"collectivite_id": collectivite, "reference": reference, "key": key})
        assert claimed.status_code in (200, 201), claimed.text
    return Parent(client, client.email)  # type: ignore[attr-defined]


@dataclass
class Family:
    """Invoices of a debtor of its own, so that no test pays or hides what another one expects open."""

    debtor_name: str
    cantine: tuple[str, str, str]  # an open invoice of CANTINE (23,45 €): the claim triple
    cantine_paid: str  # a paid invoice of the same debtor in CANTINE
    garderie: tuple[str, str, str]  # an open invoice of GARDERIE (12,00 €)

    @property
    def cantine_ref(self) -> str:
        return self.cantine[1]

    @property
    def garderie_ref(self) -> str:
        return self.garderie[1]


def new_family(stack: Any) -> Family:
    u = uuid.uuid4().hex[:8].upper()
    due = (datetime.now(ZoneInfo("Europe/Paris")).date() + timedelta(days=20)).strftime("%d/%m/%Y")
    rows = [
        "collectivite_id;regie_id;reference;key;debtor_id;debtor_name;issued_on;due_on;amount;status;paid_at",
        f"JOLIEVILLE;CANTINE;T{u}-C0;K{u}C0;F{u};M DUPONT Jean;01/07/2017;31/07/2017;41,85;paid;11/07/2017 16:28:09",
        f"JOLIEVILLE;CANTINE;T{u}-C1;K{u}C1;F{u};M DUPONT Jean;01/08/2017;{due};23,45;open;",
        f"JOLIEVILLE;GARDERIE;T{u}-G1;K{u}G1;F{u};M DUPONT Jean;01/08/2017;{due};12,00;open;",
    ]
    report = import_via_s3(stack, f"factures-{u}.csv", "\n".join(rows) + "\n")
    assert report["status"] == "done" and not report["counts"]["rejected"], report
    return Family(
        "M DUPONT Jean", ("JOLIEVILLE", f"T{u}-C1", f"K{u}C1"), f"T{u}-C0", ("JOLIEVILLE", f"T{u}-G1", f"K{u}G1")
    )


def mail_link(client: Client, email: str, path: str, count: int = 1) -> str:
    mails = wait_for_mail(client, email, count=count)
    assert len(mails) >= count, mails
    token = link_token(mails[-1]["text"], path)
    return f"{path}?token={token}"


def row(page: Page, reference: str, within: str = "#main") -> Any:
    return page.locator(f"{within} tr[data-reference='{reference}']")


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u202f", " ")).strip()


def cells(row_locator: Any) -> tuple[str, str, str]:
    """Date, description and amount of an invoice row, as a parent reads them."""
    return tuple(  # type: ignore[return-value]
        normalise(row_locator.locator(f"td[data-label='{label}']").inner_text())
        for label in ("Date", "Description", "Montant")
    )

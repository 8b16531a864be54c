"""The portal's other screens in a real browser: claims, hiding, passwords, logout, session expiry, legal pages."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from espace_famille.sessions import COOKIE_NAME
from tests.e2e.conftest import check_screen, log_in, mail_link, new_family, parent_with, row, screen
from tests.support import Client, import_via_s3

pytestmark = pytest.mark.e2e


def test_hide_and_show_an_invoice(page: Page, stack):
    family = new_family(stack)
    ref = family.cantine_ref
    parent = parent_with(stack, family.cantine)
    log_in(page, parent.email)
    page.get_by_role("link", name="Mes factures").click()
    open_row = row(page, ref, "#current-groups")
    open_row.get_by_role("button", name=f"Masquer la facture {ref}").click()
    expect(open_row).to_have_count(0)
    expect(page.locator("#announcer")).to_have_text(f"La facture {ref} est masquée.")

    page.get_by_label("Voir les factures masquées").check()
    hidden_row = row(page, ref, "#hidden-groups")
    expect(hidden_row).to_be_visible()
    check_screen(page, "30-factures-masquees")
    hidden_row.get_by_role("button", name=f"Afficher la facture {ref}").click()
    expect(hidden_row).to_have_count(0)
    expect(row(page, ref, "#current-groups")).to_be_visible()
    assert parent.api.get("/api/invoices?view=hidden").json()["invoices"] == []


def test_a_wrong_key_is_said_in_the_dialog_by_keyboard_alone(page: Page, stack):
    parent = parent_with(stack)
    log_in(page, parent.email)
    page.goto("/#factures")
    opener = page.get_by_role("button", name="Je ne trouve pas ma facture")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Je ne trouve pas ma facture")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Identifiant de la collectivité")).to_be_focused()
    page.keyboard.type("JOLIEVILLE")
    page.keyboard.press("Tab")
    page.keyboard.type("2017-WI-00-9710")
    page.keyboard.press("Tab")
    page.keyboard.type("MAUVAISE")
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("alert")).to_contain_text("Aucune facture ne correspond à ces informations")
    expect(dialog).to_be_visible()
    check_screen(page, "31-mauvaise-cle")
    # Further wrong tries are throttled, and the page says when to try again.
    for _ in range(5):
        page.keyboard.press("Enter")
        expect(dialog.get_by_role("button", name="Ajouter")).to_be_enabled()
    expect(dialog.get_by_role("alert")).to_contain_text(
        re.compile(r"Trop de tentatives\. Réessayez dans \d+ minutes?\.")
    )
    # Escape closes the dialog and gives the focus back to what opened it; nothing was linked.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    assert parent.api.get("/api/me").json()["regies"] == []


def test_password_reset_from_the_mail(page: Page, stack):
    parent = parent_with(stack)
    page.goto("/")
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    forgot = screen(page, "screen-forgot")
    check_screen(page, "32-mot-de-passe-oublie")
    forgot.get_by_label("Adresse e-mail").fill(parent.email)
    forgot.get_by_role("button", name="Recevoir le lien").click()
    expect(forgot.get_by_role("status")).to_contain_text("un e-mail vient de lui être envoyé")

    mailbox = Client(stack.url)
    page.goto(mail_link(mailbox, parent.email, f"{stack.url}/mot-de-passe/nouveau", count=2))
    reset = screen(page, "screen-reset")
    check_screen(page, "33-nouveau-mot-de-passe")
    new_password = "un tout nouveau mot de passe"
    reset.get_by_label("Nouveau mot de passe", exact=True).fill(new_password)
    reset.get_by_label("Confirmez le nouveau mot de passe").fill("pas le même du tout")
    reset.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(reset.get_by_role("alert")).to_have_text("Les deux mots de passe ne sont pas identiques.")
    reset.get_by_label("Confirmez le nouveau mot de passe").fill(new_password)
    reset.get_by_role("button", name="Enregistrer le mot de passe").click()
    login = screen(page, "screen-login")
    expect(login.locator("#login-notice")).to_contain_text("Votre mot de passe a été changé")
    log_in(page, parent.email, new_password)


def test_logout_clears_the_cookie(page: Page, stack):
    parent = parent_with(stack)
    log_in(page, parent.email)
    assert any(c["name"] == COOKIE_NAME for c in page.context.cookies())
    page.get_by_role("button", name="Se déconnecter").click()
    expect(screen(page, "screen-login").locator("#login-notice")).to_have_text("Vous êtes déconnecté.")
    assert not any(c["name"] == COOKIE_NAME for c in page.context.cookies())
    # No session any more (the device cookie, kept on purpose, makes the gateway ask the authorizer: 403).
    assert page.request.get("/api/me").status in (401, 403)

    # A recap link opened while signed out: the login screen first, then that very page.
    page.goto("/paiement/retour?payment=" + "a" * 26)
    login = screen(page, "screen-login")
    login.get_by_label("Identifiant").fill(parent.email)
    login.get_by_label("Mot de passe", exact=True).fill("un mot de passe bien long")
    login.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Récapitulatif de votre paiement")).to_be_visible()
    expect(page.locator("#recap-status")).to_have_text("Ce paiement est introuvable.")
    assert page.url.endswith("/paiement/retour?payment=" + "a" * 26)


def test_session_expiry_is_announced_and_can_be_extended(page: Page, stack):
    parent = parent_with(stack)
    page.clock.install()
    log_in(page, parent.email)
    page.goto("/#factures")
    page.get_by_role("heading", name="Mes factures").wait_for()

    # 23 minutes idle: the warning, with one action to stay signed in (which slides the server's idle expiry).
    page.clock.fast_forward("23:05")
    warning = page.get_by_role("dialog", name="Votre session va expirer")
    expect(warning).to_be_visible()
    check_screen(page, "34-session-va-expirer")
    with page.expect_response(re.compile(r"/api/me$")) as refreshed:
        warning.get_by_role("button", name="Rester connecté").click()
    assert refreshed.value.status == 200
    expect(warning).to_be_hidden()

    # Left alone this time: signed out, back to the login screen, and logging in returns to the same page.
    page.clock.fast_forward("25:05")
    login = screen(page, "screen-login")
    expect(login.locator("#login-notice")).to_contain_text("Votre session a expiré")
    assert not any(c["name"] == COOKIE_NAME for c in page.context.cookies())
    assert page.url.endswith("/#factures")
    login.get_by_label("Identifiant").fill(parent.email)
    login.get_by_label("Mot de passe", exact=True).fill("un mot de passe bien long")
    login.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Mes factures")).to_be_visible()


def test_an_expired_session_brings_back_the_login_without_losing_the_page(page: Page, stack):
    family = new_family(stack)
    parent = parent_with(stack, family.cantine)
    log_in(page, parent.email)
    page.goto("/#factures-payees")
    expect(page.locator("#paid-groups tbody tr")).to_have_count(1)
    # The server forgets the session (as after 30 idle minutes); the page's next call finds out.
    page.context.clear_cookies()
    page.get_by_role("link", name="Factures en cours").click()
    login = screen(page, "screen-login")
    expect(login.locator("#login-notice")).to_contain_text("Votre session a expiré")
    login.get_by_label("Identifiant").fill(parent.email)
    login.get_by_label("Mot de passe", exact=True).fill("un mot de passe bien long")
    login.get_by_role("button", name="Valider").click()
    expect(page.locator("#current-groups")).to_contain_text(family.cantine_ref)
    assert page.url.endswith("/#factures")


def test_my_account(page: Page, stack):
    family = new_family(stack)
    parent = parent_with(stack, family.cantine)
    log_in(page, parent.email)
    page.get_by_role("link", name="Mon compte", exact=True).first.click()
    account = page.locator("#panel-compte")
    expect(account).to_contain_text(parent.email)
    expect(page.locator("#regies-list")).to_contain_text("Jolieville - Restauration scolaire (M DUPONT Jean)")
    check_screen(page, "35-mon-compte")

    with page.expect_download() as download:
        account.get_by_role("button", name="Télécharger mes données").click()
    exported = json.loads(open(download.value.path(), encoding="utf-8").read())  # noqa: SIM115
    assert parent.email in json.dumps(exported)

    account.get_by_label("Mot de passe actuel").fill("un mot de passe bien long")
    account.get_by_label("Nouveau mot de passe", exact=True).fill("encore un autre mot de passe")
    account.get_by_label("Confirmez le nouveau mot de passe").fill("encore un autre mot de passe")
    account.get_by_role("button", name="Changer le mot de passe").click()
    expect(page.locator("#password-done")).to_have_text("Votre mot de passe a été changé.")

    account.get_by_role("button", name="Retirer la régie Restauration scolaire de mon compte").click()
    confirm = page.get_by_role("dialog", name="Confirmation")
    check_screen(page, "36-confirmation")
    confirm.get_by_role("button", name="Retirer la régie").click()
    expect(page.locator("#regies-list")).to_contain_text("Aucune régie")

    account.get_by_label("Mot de passe", exact=True).fill("encore un autre mot de passe")
    account.get_by_role("button", name="Supprimer mon compte").click()
    page.get_by_role("dialog", name="Confirmation").get_by_role("button", name="Supprimer mon compte").click()
    expect(screen(page, "screen-login").locator("#login-notice")).to_have_text("Votre compte a été supprimé.")
    gone = Client(stack.url).post(
        "/api/session", json={"email": parent.email, "password": "encore un autre mot de passe"}
    )
    assert gone.status_code == 401


@pytest.mark.parametrize(
    ("path", "title", "words"),
    [
        ("/mentions-legales", "Mentions légales", ["Hébergement", "Données personnelles", "Cookies"]),
        (
            "/accessibilite",
            "Déclaration d’accessibilité",
            ["non conforme", "27 novembre 2026", "Pages testées", "Défenseur des droits", "Libre réponse 71120"],
        ),
    ],
)
def test_legal_pages(page: Page, path, title, words):
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    for word in words:
        expect(page.locator("main")).to_contain_text(word)
    check_screen(page, "40" + path.replace("/", "-"))


def test_paid_invoices_show_even_when_the_newest_page_is_all_hidden(page: Page, stack):
    """A page of the paid view can hold only invoices the parent hid: the page reads on, never says "none"."""
    u = uuid.uuid4().hex[:8].upper()
    header = "collectivite_id;regie_id;reference;key;debtor_id;debtor_name;issued_on;due_on;amount;status;paid_at"
    rows = [header]
    # 52 paid invoices, newest first by issue date; the 51 newest get hidden, the oldest stays shown.
    start = date(2020, 1, 1)
    for n in range(52):
        issued = (start + timedelta(days=n)).strftime("%d/%m/%Y")
        rows.append(
            f"JOLIEVILLE;CANTINE;H{u}-{n:02d};K{u}{n:02d};H{u};M MARTIN Paul;{issued};{issued};5,00;paid;{issued} 10:00:00"
        )
    report = import_via_s3(stack, f"factures-{u}.csv", "\n".join(rows) + "\n")
    assert report["status"] == "done" and not report["counts"]["rejected"], report
    parent = parent_with(stack, ("JOLIEVILLE", f"H{u}-00", f"K{u}00"))
    paid = {i["reference"]: i["id"] for i in parent.api.get("/api/invoices?view=hidden").json()["invoices"]}
    assert paid == {}
    first = parent.api.get("/api/invoices?view=paid&limit=200").json()["invoices"]
    assert len(first) == 52
    for invoice in first:
        if invoice["reference"] != f"H{u}-00":
            assert parent.api.put(f"/api/invoices/{invoice['id']}/hidden").status_code == 204
    log_in(page, parent.email)
    page.goto("/#factures")
    page.get_by_role("link", name="Factures payées").click()
    expect(row(page, f"H{u}-00", "#paid-groups")).to_be_visible()
    expect(page.locator("#paid-groups")).not_to_contain_text("Vous n’avez aucune facture payée.")

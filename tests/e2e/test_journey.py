"""The product description's journey in a real browser: account, news, claim, invoices, payment, recap."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import cells, check_screen, mail_link, row, screen
from tests.support import Client, unique_email

pytestmark = pytest.mark.e2e

PASSWORD = "la cantine ouvre à sept heures"


def pay_on_emulator(page: Page, button: str) -> None:
    page.get_by_role("button", name="Payer les factures sélectionnées").click()
    page.get_by_role("button", name=button, exact=True).wait_for()
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(re.compile(r"/paiement/retour\?"))


def test_the_journey_of_the_description(page: Page, stack):
    email = unique_email("lacroix")
    mailbox = Client(stack.url)

    # Create an account: the e-mail only; the password is chosen from the mail's link.
    page.goto("/")
    check_screen(page, "01-connexion")
    page.get_by_role("link", name="Créer un compte").click()
    signup = screen(page, "screen-signup")
    check_screen(page, "02-creer-un-compte")
    signup.get_by_label("Adresse e-mail").fill(email)
    signup.get_by_role("button", name="Créer mon compte").click()
    expect(signup.get_by_role("status")).to_contain_text("Un e-mail vient de vous être envoyé")

    page.goto(mail_link(mailbox, email, f"{stack.url}/compte/confirmer"))
    confirm = screen(page, "screen-confirm")
    expect(confirm.get_by_role("heading", name="Confirmer mon compte")).to_be_visible()
    check_screen(page, "03-confirmer-mon-compte")
    confirm.get_by_label("Votre nom").fill("LACROIX")
    # A weak password: the API's reason is said in the form, and nothing is confirmed.
    confirm.get_by_label("Mot de passe", exact=True).fill("lacroix12345")
    confirm.get_by_label("Confirmez le mot de passe").fill("lacroix12345")
    confirm.get_by_role("button", name="Confirmer mon compte").click()
    expect(confirm.get_by_role("alert")).to_contain_text("mot de passe trop faible")
    expect(confirm).to_be_visible()
    confirm.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    confirm.get_by_label("Confirmez le mot de passe").fill(PASSWORD)
    confirm.get_by_role("button", name="Confirmer mon compte").click()

    # Logged in: the news of the collectivité.
    expect(page.get_by_role("heading", name="L’actualité Famille")).to_be_visible()
    expect(page.locator("#who")).to_have_text("LACROIX")
    news = page.locator("#news-list")
    expect(news).to_contain_text("Information garderie - 03/10/2019")
    expect(news).to_contain_text("Ouverture de la garderie à 7h00.")
    check_screen(page, "04-actualites")

    page.get_by_role("link", name="Mes réservations").click()
    expect(page.get_by_role("heading", name="Mes réservations")).to_be_visible()
    check_screen(page, "05-mes-reservations")

    # Mes factures: nothing yet; « Je ne trouve pas ma facture » with the paper invoice's triple.
    page.get_by_role("link", name="Mes factures").click()
    expect(page.locator("#current-groups")).to_contain_text("aucune facture en cours")
    page.get_by_role("button", name="Je ne trouve pas ma facture").click()
    dialog = page.get_by_role("dialog", name="Je ne trouve pas ma facture")
    expect(dialog).to_contain_text("en bas à droite")
    check_screen(page, "06-je-ne-trouve-pas-ma-facture")
    dialog.get_by_label("Identifiant de la collectivité").fill("JOLIEVILLE")
    dialog.get_by_label("Référence de la facture").fill("2017-WI-00-9710")
    dialog.get_by_label("Clé").fill("K9710")
    dialog.get_by_role("button", name="Ajouter").click()
    expect(dialog).to_be_hidden()

    open_row = row(page, "2017-WI-00-9710", "#current-groups")
    expect(open_row).to_be_visible()
    assert cells(open_row) == (
        "01/08/2017",
        "Facture du 01/08/2017 pour M LACROIX Jerome - 20 jours avant échéance - (ref: 2017-WI-00-9710)",
        "23,45 €",
    )
    expect(page.locator("#current-groups h3")).to_have_text(["Jolieville - Restauration scolaire"])
    expect(page.locator("#main")).to_contain_text(
        "Merci de ne pas tenir compte des factures que vous avez éventuellement déjà payées à la trésorerie ou auprès de votre collectivité."
    )
    check_screen(page, "07-factures-en-cours")

    # The three paid invoices, as the description shows them.
    page.get_by_role("link", name="Factures payées").click()
    paid = page.locator("#paid-groups tbody tr")
    expect(paid).to_have_count(3)
    assert [cells(paid.nth(i)) for i in range(3)] == [
        (
            "01/07/2017",
            "Facture du 01/07/2017 pour M LACROIX Jerome payée le 11/07/2017 16:28:09 (ref: 2017-VS-00-9700)",
            "41,85 €",
        ),
        (
            "01/06/2017",
            "Facture du 01/06/2017 pour M LACROIX Jerome payée le 11/07/2017 14:35:42 (ref: 2017-FG-00-9707)",
            "16,75 €",
        ),
        (
            "01/05/2017",
            "Facture du 01/05/2017 pour M LACROIX Jerome payée le 11/07/2017 14:25:08 (ref: 2017-0Y-00-9706)",
            "6,70 €",
        ),
    ]
    check_screen(page, "08-factures-payees")

    # Détail: the invoice's lines.
    row(page, "2017-VS-00-9700", "#paid-groups").get_by_role("button", name="Détail").click()
    detail = page.get_by_role("dialog", name="Détail de la facture 2017-VS-00-9700")
    expect(detail).to_contain_text("Majoration repas non réservé")
    expect(detail.locator("tbody tr")).to_have_count(2)
    check_screen(page, "09-detail")
    detail.get_by_role("button", name="Fermer").click()
    expect(detail).to_be_hidden()

    # Tick the open invoice: the amount follows; the e-mail is the account's.
    page.get_by_role("link", name="Factures en cours").click()
    expect(page.locator("#amount-due")).to_have_text(re.compile(r"^0,00\s€$"))
    page.get_by_role("checkbox", name=re.compile("Sélectionner la facture 2017-WI-00-9710")).check()
    expect(page.locator("#amount-due")).to_have_text(re.compile(r"^23,45\s€$"))
    expect(page.get_by_label("Adresse e-mail (pour recevoir le justificatif de paiement)")).to_have_value(email)

    # Pay on the provider's page, come back to the recap.
    pay_on_emulator(page, "Payer")
    expect(page.get_by_role("heading", name="Récapitulatif de votre paiement")).to_be_visible()
    expect(page.locator("#recap-status")).to_contain_text("Votre paiement a bien été effectué", timeout=30000)
    recap = page.locator("#recap")
    expect(recap).to_contain_text("Restauration scolaire")
    expect(recap).to_contain_text("2017-WI-00-9710")
    expect(recap).to_contain_text(re.compile(r"23,45\s€"))
    expect(recap).to_contain_text("Payé")
    check_screen(page, "10-recapitulatif")

    # Found under Factures payées, and in Mes paiements.
    page.goto("/#factures-payees")
    paid_now = row(page, "2017-WI-00-9710", "#paid-groups")
    expect(paid_now).to_contain_text("payée le")
    expect(page.locator("#paid-groups tbody tr")).to_have_count(4)
    page.get_by_role("link", name="Mes paiements").click()
    expect(page.locator("#payments-list tbody tr")).to_have_count(1)
    expect(page.locator("#payments-list")).to_contain_text("Payé")
    check_screen(page, "11-mes-paiements")

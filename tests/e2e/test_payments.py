"""Paying as a parent lives it: refused and abandoned payments, one régie per payment."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import check_screen, log_in, new_family, parent_with, row

pytestmark = pytest.mark.e2e


def _pay(page: Page, reference: str, button: str) -> None:
    page.goto("/#factures")
    page.get_by_role("checkbox", name=re.compile(f"Sélectionner la facture {reference}")).check()
    page.get_by_role("button", name="Payer les factures sélectionnées").click()
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(re.compile(r"/paiement/retour\?"))


def test_refused_then_abandoned_payment_leave_the_invoice_to_pay(page: Page, stack):
    family = new_family(stack)
    parent = parent_with(stack, family.cantine)
    log_in(page, parent.email)

    _pay(page, family.cantine_ref, "Refuser")
    status = page.locator("#recap-status")
    expect(status).to_contain_text("Votre paiement a été refusé", timeout=30000)
    expect(status).to_contain_text("Vos factures restent à payer")
    check_screen(page, "20-paiement-refuse")

    # The refused payment released the invoice: it can be paid again, and this time abandoned.
    _pay(page, family.cantine_ref, "Abandonner")
    expect(status).to_contain_text("Vous avez abandonné le paiement", timeout=30000)
    check_screen(page, "21-paiement-abandonne")

    page.goto("/#factures")
    expect(
        page.get_by_role("checkbox", name=re.compile(f"Sélectionner la facture {family.cantine_ref}"))
    ).to_be_enabled()
    page.get_by_role("link", name="Mes paiements").click()
    expect(page.locator("#payments-list tbody tr")).to_have_count(2)
    expect(page.locator("#payments-list")).to_contain_text("Refusé")
    expect(page.locator("#payments-list")).to_contain_text("Abandonné")


def test_one_regie_per_payment(page: Page, stack):
    family = new_family(stack)
    parent = parent_with(stack, family.cantine, family.garderie)
    log_in(page, parent.email)
    page.get_by_role("link", name="Mes factures").click()
    expect(page.locator("#current-groups h3")).to_have_count(2)

    cantine = page.get_by_role("checkbox", name=re.compile(f"Sélectionner la facture {family.cantine_ref}"))
    garderie = page.get_by_role("checkbox", name=re.compile(f"Sélectionner la facture {family.garderie_ref}"))
    cantine.check()
    garderie.click()
    expect(garderie).not_to_be_checked()
    conflict = row(page, family.garderie_ref).get_by_role("alert")
    expect(conflict).to_contain_text("Un paiement ne concerne qu’une seule régie")
    expect(conflict).to_contain_text("Restauration scolaire")
    expect(page.locator("#amount-due")).to_have_text(re.compile(r"^23,45\s€$"))
    check_screen(page, "22-une-seule-regie")

    # Unticking the first lets the other régie's invoice be chosen.
    cantine.uncheck()
    garderie.check()
    expect(garderie).to_be_checked()
    expect(conflict).to_have_text("")
    expect(page.locator("#amount-due")).to_have_text(re.compile(r"^12,00\s€$"))
    assert row(page, family.garderie_ref).count() == 1


def test_provider_unavailable_says_so_and_loses_nothing(page: Page, stack):
    family = new_family(stack)
    parent = parent_with(stack, family.cantine)
    log_in(page, parent.email)
    # PayFiP cannot create the payment once: the portal answers 503 provider_unavailable.
    stack.payfip.configure(fault="TechIndisponibiliteErreur", fault_operations=["creerPaiementSecurise"], fault_times=1)
    try:
        page.goto("/#factures")
        page.get_by_role("checkbox", name=re.compile(f"Sélectionner la facture {family.cantine_ref}")).check()
        page.get_by_role("button", name="Payer les factures sélectionnées").click()
        error = page.locator("#pay-error")
        expect(error).to_contain_text("Le paiement en ligne est momentanément indisponible")
        expect(error).to_contain_text("Rien n’a été payé ni perdu")
        check_screen(page, "23-paiement-indisponible")
        # Still ticked, still payable: the parent tries again and reaches the provider's page.
        expect(
            page.get_by_role("checkbox", name=re.compile(f"Sélectionner la facture {family.cantine_ref}"))
        ).to_be_checked()
        page.get_by_role("button", name="Payer les factures sélectionnées").click()
        page.get_by_role("button", name="Abandonner", exact=True).click()
        page.wait_for_url(re.compile(r"/paiement/retour\?"))
        expect(page.locator("#recap-status")).to_contain_text("Vous avez abandonné le paiement", timeout=30000)
    finally:
        stack.payfip.reset()


def test_an_invoice_held_by_a_payment_says_why_it_cannot_be_ticked(page: Page, stack):
    family = new_family(stack)
    parent = parent_with(stack, family.cantine)
    log_in(page, parent.email)
    page.goto("/#factures")
    page.get_by_role("checkbox", name=re.compile(f"Sélectionner la facture {family.cantine_ref}")).check()
    page.get_by_role("button", name="Payer les factures sélectionnées").click()
    page.get_by_role("button", name="Payer", exact=True).wait_for()
    # The parent leaves the provider's page without choosing: the invoice stays held by that payment a while.
    page.goto("/#factures")
    box = page.get_by_role("checkbox", name=re.compile(f"Sélectionner la facture {family.cantine_ref}"))
    expect(box).to_be_disabled()
    expect(row(page, family.cantine_ref)).to_contain_text("Un paiement de cette facture est en cours")
    expect(page.locator("#amount-due")).to_have_text(re.compile(r"^0,00\s€$"))
    check_screen(page, "24-paiement-en-cours")

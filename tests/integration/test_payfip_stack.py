"""The PayFiP emulator inside the local stack: started with it, and the functions pointed at it."""

from __future__ import annotations

import pytest

from espace_famille.payfip import PayfipClient, PayfipEndpoints

pytestmark = pytest.mark.integration


def test_functions_are_pointed_at_the_emulator(stack):
    assert stack.payfip is not None
    for pool in stack.pools.values():
        assert pool.env["PAYFIP_SERVICE_URL"] == stack.payfip.url + "/tpa/services/securite"
        assert pool.env["PAYFIP_PAGE_URL"] == stack.payfip.url + "/tpa/paiementws.web"
    assert stack.info()["payfip_url"] == stack.payfip.url


def test_stack_handle_drives_the_emulator(stack):
    stack.payfip.reset()
    client = PayfipClient(PayfipEndpoints(stack.payfip.service_url, stack.payfip.page_url), timeout=5)
    idop = client.create_payment(
        numcli="000002",
        exer=2026,
        refdet="STACKTEST000001",
        amount_cents=100,
        email="parent@example.org",
        objet="Garderie",
        saisie="T",
        urlnotif=stack.url + "/webhooks/payfip",
        urlredirect=stack.url + "/paiement/retour?payment=x",
    )
    assert [p["idop"] for p in stack.payfip.payments()] == [idop]
    stack.payfip.settle(idop, "V", notify=False)
    assert client.result(idop).outcome == "paid"
    stack.payfip.configure(clock_offset_seconds=2 * 86400)
    assert stack.payfip.payment(idop)["state"] == "paid"
    stack.payfip.reset()
    assert stack.payfip.payments() == []

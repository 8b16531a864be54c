"""The adapter against the PayFiP emulator: payment page, results, faults, clock and notification switches."""

from __future__ import annotations

import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from espace_famille.payfip import PayfipClient, PayfipEndpoints, ProviderUnavailable
from infra.local.payfip import ERRORS, OPERATIONS, TECH_FAULTS
from tests.payfip_support import EmulatorRun, running_emulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run():
    with running_emulator() as run:
        yield run


@pytest.fixture
def emu(run: EmulatorRun):
    run.handle.reset()
    run.receiver.received.clear()
    run.receiver.status = 200
    return run


@pytest.fixture
def client(run: EmulatorRun) -> PayfipClient:
    return PayfipClient(PayfipEndpoints(run.handle.service_url, run.handle.page_url), timeout=5)


def create(client: PayfipClient, run: EmulatorRun, amount_cents: int = 2345, numcli: str = "000001") -> str:
    return client.create_payment(
        numcli=numcli,
        exer=2026,
        refdet="EF" + uuid.uuid4().hex[:20].upper(),
        amount_cents=amount_cents,
        email="parent@example.org",
        objet="Restauration scolaire 2017 WI 00 9710",
        saisie="T",
        urlnotif=run.urlnotif,
        urlredirect=run.urlredirect,
    )


def choose(client: PayfipClient, idop: str, resultrans: str) -> httpx.Response:
    """What a browser does on the page: read it, then press one of its buttons."""
    page = httpx.get(client.page_url(idop))
    assert page.status_code == 200
    assert all(
        f'value="{v}">{label}</button>' in page.text
        for v, label in [("P", "Payer"), ("R", "Refuser"), ("A", "Abandonner")]
    )
    assert "23,45\u00a0€" in page.text
    return httpx.post(client.page_url(idop), data={"resultrans": resultrans})


def wait_received(emu: EmulatorRun, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(emu.receiver.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return emu.receiver.received


def test_pay_through_the_page(emu, client):
    idop = create(client, emu)
    assert client.result(idop).outcome == "not_yet"
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    answer = choose(client, idop, "P")
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert location.path == "/paiement/retour"
    assert parse_qs(location.query) == {"payment": ["P123"], "idop": [idop]}
    # The notification was sent before the browser was answered, with the idop alone.
    assert emu.receiver.received == [{"path": "/webhooks/payfip", "query": {}, "form": {"idOp": idop}}]
    result = client.result(idop)
    assert result.outcome == "paid"
    assert result.resultrans == "P"
    assert result.amount_cents == 2345
    assert result.numcli == "000001"
    assert result.refdet == emu.handle.payment(idop)["refdet"]
    assert result.numauto and result.numauto.endswith("-tip")
    assert result.paid_at is not None and before <= result.paid_at <= datetime.now(UTC)
    # Pressing again: the operation is over.
    assert httpx.post(client.page_url(idop), data={"resultrans": "P"}).status_code == 409
    assert len(emu.receiver.received) == 1


@pytest.mark.parametrize(("resultrans", "outcome"), [("R", "refused"), ("A", "abandoned")])
def test_refuse_and_abandon_through_the_page(emu, client, resultrans, outcome):
    idop = create(client, emu)
    assert choose(client, idop, resultrans).status_code == 303
    result = client.result(idop)
    assert (result.outcome, result.resultrans, result.numauto) == (outcome, resultrans, None)
    assert result.amount_cents == 2345
    assert emu.handle.payment(idop)["state"] == outcome


def test_page_refuses_unknown_idop_and_bad_choice(emu, client):
    assert httpx.get(client.page_url("00000000-0000-0000-0000-000000000000")).status_code == 404
    idop = create(client, emu)
    assert httpx.post(client.page_url(idop), data={"resultrans": "V"}).status_code == 400
    assert httpx.post(client.page_url(idop), content=b"resultrans=P" + b"x" * 70000).status_code == 413
    assert emu.handle.payment(idop)["state"] == "pending"
    assert emu.receiver.received == []


def test_idop_life_on_the_emulator_clock(emu, client):
    idop = create(client, emu)
    emu.handle.configure(clock_offset_seconds=15 * 60 + 1)
    assert emu.handle.payment(idop)["state"] == "expired"
    assert httpx.get(client.page_url(idop)).status_code == 410
    assert httpx.post(client.page_url(idop), data={"resultrans": "P"}).status_code == 410
    assert client.result(idop).outcome == "not_yet"  # P5 until PayFiP forgets it
    emu.handle.configure(clock_offset_seconds=86400 + 1)
    assert client.result(idop).outcome == "unknown"  # P1
    assert client.result("00000000-0000-0000-0000-000000000000").outcome == "unknown"
    assert emu.receiver.received == []


def test_late_payment_settled_without_notification(emu, client):
    idop = create(client, emu)
    emu.handle.configure(clock_offset_seconds=3600)
    emu.handle.settle(idop, "P", notify=False)
    result = client.result(idop)
    assert result.outcome == "paid"
    assert result.paid_at is not None and result.paid_at > datetime.now(UTC) + timedelta(minutes=50)
    assert emu.receiver.received == []
    assert [n["outcome"] for n in emu.handle.notifications()] == ["not_sent"]


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("kind", TECH_FAULTS)
def test_tech_faults_are_provider_unavailable(emu, client, operation, kind):
    idop = create(client, emu)
    emu.handle.configure(fault=kind, fault_operations=[operation])
    calls = {
        "creerPaiementSecurise": lambda: create(client, emu),
        "recupererDetailPaiementSecurise": lambda: client.result(idop),
        "recupererDetailClient": lambda: client.client_info("000001"),
    }
    with pytest.raises(ProviderUnavailable) as raised:
        calls[operation]()
    assert raised.value.kind == kind
    assert raised.value.code
    # The other operations still answer.
    for other, call in calls.items():
        if other != operation:
            call()


@pytest.mark.parametrize("code", sorted(set(ERRORS) - {"P1", "P5"}))
def test_functional_faults_on_creation_are_provider_unavailable(emu, client, code):
    emu.handle.configure(fault=code, fault_operations=["creerPaiementSecurise"])
    with pytest.raises(ProviderUnavailable) as raised:
        create(client, emu)
    assert (raised.value.kind, raised.value.code) == ("FonctionnelleErreur", code)
    assert emu.handle.payments() == []


def test_result_faults(emu, client):
    idop = create(client, emu)
    emu.handle.settle(idop, "P", notify=False)
    emu.handle.configure(fault="P5", fault_operations=["recupererDetailPaiementSecurise"])
    assert client.result(idop).outcome == "not_yet"
    emu.handle.configure(fault="P1", fault_operations=["recupererDetailPaiementSecurise"])
    assert client.result(idop).outcome == "unknown"
    emu.handle.configure(fault="A2", fault_operations=["recupererDetailPaiementSecurise"])
    with pytest.raises(ProviderUnavailable):
        client.result(idop)
    emu.handle.configure(fault="http503")
    with pytest.raises(ProviderUnavailable):
        client.result(idop)
    with pytest.raises(ProviderUnavailable):
        create(client, emu)
    emu.handle.configure(fault=None)
    assert client.result(idop).outcome == "paid"


def test_fault_a_given_number_of_times(emu, client):
    emu.handle.configure(fault="TechIndisponibiliteErreur", fault_times=2)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            create(client, emu)
    assert create(client, emu)


def test_timeout_is_provider_unavailable(emu, run):
    slow = PayfipClient(PayfipEndpoints(run.handle.service_url, run.handle.page_url), timeout=0.5)
    emu.handle.configure(soap_delay_seconds=3)
    with pytest.raises(ProviderUnavailable):
        slow.client_info("000001")


def test_nothing_listens_is_provider_unavailable():
    sock = socket.socket()  # a port nobody listens on: bound, then closed
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = PayfipClient(PayfipEndpoints(f"http://127.0.0.1:{port}/tpa/services/securite", "x"), timeout=2)
    with pytest.raises(ProviderUnavailable):
        client.result("cc0cb210-1cd4-11ea-8cca-0213ad91a103")


def test_client_info(emu, client):
    assert client.client_info("090909") == {
        "numcli": "090909",
        "libelleN1": "RR COMPOSTEURS INDIVIDUELS",
        "libelleN2": "POUETPOUET",
        "libelleN3": "COLLECTE VALORISATION DECHETS",
    }
    with pytest.raises(ProviderUnavailable) as raised:
        client.client_info("123456")
    assert raised.value.code == "N2"
    emu.handle.configure(clients={"123456": ["RR TEST", "VILLE", "REGIE"]})
    assert client.client_info("123456")["libelleN1"] == "RR TEST"
    assert create(client, emu, numcli="123456")


def test_unknown_numcli_cannot_create(emu, client):
    with pytest.raises(ProviderUnavailable) as raised:
        create(client, emu, numcli="999999")
    assert raised.value.code == "N2"


# -- notification switches ---------------------------------------------------------------------------------
def test_drop(emu, client):
    emu.handle.configure(notifications="drop")
    idop = create(client, emu)
    assert choose(client, idop, "P").status_code == 303
    assert emu.receiver.received == []
    assert [n["outcome"] for n in emu.handle.notifications()] == ["dropped"]
    assert client.result(idop).outcome == "paid"


def test_repeat(emu, client):
    emu.handle.configure(notifications="repeat", repeat=10)
    idop = create(client, emu)
    assert choose(client, idop, "P").status_code == 303
    assert [r["form"] for r in emu.receiver.received] == [{"idOp": idop}] * 10
    assert [n["status"] for n in emu.handle.notifications()] == [200] * 10


def test_delay_answers_the_browser_first(emu, client):
    emu.handle.configure(notifications="delay", delay_seconds=0.5)
    idop = create(client, emu)
    assert choose(client, idop, "A").status_code == 303
    assert emu.receiver.received == []
    assert [r["form"] for r in wait_received(emu, 1)] == [{"idOp": idop}]


def test_reorder_sends_held_notifications_newest_first(emu, client):
    emu.handle.configure(notifications="reorder")
    first, second = create(client, emu), create(client, emu)
    assert choose(client, first, "P").status_code == 303
    assert choose(client, second, "R").status_code == 303
    assert emu.receiver.received == []
    assert emu.handle.flush() == 2
    assert [r["form"]["idOp"] for r in emu.receiver.received] == [second, first]


def test_notification_field_name_can_be_changed(emu, client):
    emu.handle.configure(notify_field="idop")
    idop = create(client, emu)
    emu.handle.settle(idop, "P")
    assert emu.receiver.received[0]["form"] == {"idop": idop}


def test_failed_notification_is_logged(emu, client):
    emu.receiver.status = 500
    idop = create(client, emu)
    assert choose(client, idop, "P").status_code == 303
    assert [(n["outcome"], n["status"]) for n in emu.handle.notifications()] == [("sent", 500)]


def test_bad_control_requests(emu):
    with pytest.raises(RuntimeError, match="400"):
        emu.handle.configure(notifications="sometimes")
    with pytest.raises(RuntimeError, match="400"):
        emu.handle.configure(fault="XX")
    with pytest.raises(RuntimeError, match="400"):
        emu.handle.configure(colour="blue")
    with pytest.raises(RuntimeError, match="404"):
        emu.handle.settle("nope", "P")


def test_a_result_is_final(emu, client):
    idop = create(client, emu)
    emu.handle.settle(idop, "R", notify=False)
    with pytest.raises(RuntimeError, match="409"):
        emu.handle.settle(idop, "P")
    assert client.result(idop).outcome == "refused"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<a/>",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        b"<recupererDetailClient><arg0><numCli>&e;</numCli></arg0></recupererDetailClient></s:Body></s:Envelope>",
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><autre/></s:Body></s:Envelope>',
        b"<x>" + b"a" * 70000 + b"</x>",
    ],
    ids=["empty", "text", "no-envelope", "external-entity", "unknown-operation", "too-long"],
)
def test_unreadable_soap_is_a_protocol_fault(emu, body):
    answer = httpx.post(emu.handle.service_url, content=body, headers={"Content-Type": "text/xml"})
    assert answer.status_code == 500
    assert "TechProtocolaireErreur" in answer.text
    assert "root:" not in answer.text
    assert emu.handle.payments() == []

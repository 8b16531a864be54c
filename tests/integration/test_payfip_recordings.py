"""Real PayFiP exchanges (recorded by eopayment) replayed against the emulator, and eopayment's own client on it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from eopayment import common as eocommon
from eopayment import payfip_ws
from lxml import etree

from infra.local.payfip import NS
from tests.payfip_support import EmulatorRun, running_emulator

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDINGS = sorted(DATA.glob("payfip-*.json"))
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Values that differ from one run to the next; their shape is checked instead.
VOLATILE = {"idOp", "dattrans", "heurtrans", "numauto", "exer"}


@pytest.fixture(scope="module")
def run():
    with running_emulator() as run:
        yield run


@pytest.fixture
def emu(run: EmulatorRun):
    run.handle.reset()
    return run


def parse(text: str | bytes) -> dict[str, Any]:
    """What matters in a SOAP message: the operation or fault, and its fields in order."""
    root = etree.fromstring(text.encode() if isinstance(text, str) else text)
    body = root.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    element = body[0]
    if etree.QName(element).localname == "Fault":
        detail = element.find("detail")
        assert detail is not None
        error = detail[0]
        return {
            "fault": {
                "faultcode": element.findtext("faultcode"),
                "faultstring": element.findtext("faultstring"),
                "kind": etree.QName(error).localname,
                "namespace": etree.QName(error).namespace,
                "fields": [(etree.QName(c).localname, (c.text or "").strip()) for c in error],
            }
        }
    container = next(iter(element), None)
    fields = [] if container is None else [(etree.QName(c).localname, (c.text or "").strip()) for c in container]
    return {
        "operation": etree.QName(element).localname,
        "namespace": etree.QName(element).namespace,
        "container": None if container is None else etree.QName(container).localname,
        "fields": fields,
    }


def soap(run: EmulatorRun, request: str) -> httpx.Response:
    return httpx.post(
        run.handle.service_url, content=request.encode(), headers={"Content-Type": "text/xml; charset=utf-8"}
    )


def creation_request(fields: dict[str, str]) -> str:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return (
        f'<soap-env:Envelope xmlns:soap-env="{SOAP_ENV}"><soap-env:Body>'
        f'<ns0:creerPaiementSecurise xmlns:ns0="{NS}"><arg0>{inner}</arg0></ns0:creerPaiementSecurise>'
        f"</soap-env:Body></soap-env:Envelope>"
    )


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_recording_replayed(emu, path):
    exchanges = json.loads(path.read_text())
    assert exchanges
    idops: dict[str, str] = {}  # recorded idop -> the emulator's
    for request, recorded_answer in exchanges:
        expected = parse(recorded_answer)
        asked = parse(request)
        if asked["operation"] == "recupererDetailPaiementSecurise":
            recorded_idop = dict(asked["fields"])["idOp"]
            if recorded_idop not in idops and "fields" in expected and "fault" not in expected:
                # A recording of the detail call alone: create and settle what it describes first.
                answer = dict(expected["fields"])
                keep = ("mel", "montant", "numcli", "objet", "refdet", "saisie")
                fields = {"exer": "2019", **{k: answer[k] for k in keep if k in answer}}
                fields |= {"urlnotif": emu.urlnotif, "urlredirect": emu.urlredirect}
                idops[recorded_idop] = parse(soap(emu, creation_request(fields)).content)["fields"][0][1]
            elif recorded_idop not in idops and expected.get("fault", {}).get("fields", [("", "")])[0][1] == "P5":
                fields = {"exer": "2019", "mel": "john.doe@example.com", "montant": "1000", "numcli": "090909"}
                fields |= {
                    "refdet": "ABCDEFGH",
                    "saisie": "T",
                    "urlnotif": emu.urlnotif,
                    "urlredirect": emu.urlredirect,
                }
                idops[recorded_idop] = parse(soap(emu, creation_request(fields)).content)["fields"][0][1]
            if "fault" not in expected and recorded_idop in idops:
                emu.handle.settle(idops[recorded_idop], dict(expected["fields"])["resultrans"], notify=False)
            for recorded, ours in idops.items():
                request = request.replace(recorded, ours)
        response = soap(emu, request)
        got = parse(response.content)
        if "fault" in expected:
            assert response.status_code == 500
            assert got == expected
            continue
        assert response.status_code == 200
        assert {k: v for k, v in got.items() if k != "fields"} == {k: v for k, v in expected.items() if k != "fields"}
        assert [name for name, _ in got["fields"]] == [name for name, _ in expected["fields"]]
        assert [f for f in got["fields"] if f[0] not in VOLATILE] == [
            f for f in expected["fields"] if f[0] not in VOLATILE
        ]
        values = dict(got["fields"])
        if "idOp" in values:
            assert UUID_RE.fullmatch(values["idOp"])
        if asked["operation"] == "creerPaiementSecurise":
            recorded_idop = dict(expected["fields"])["idOp"]
            idops[recorded_idop] = values["idOp"]
        if "dattrans" in values:
            assert re.fullmatch(r"\d{8}", values["dattrans"]) and re.fullmatch(r"\d{4}", values["heurtrans"])


def test_every_recording_is_replayed():
    assert len(RECORDINGS) == 10


# -- eopayment's own client, pointed at the emulator --------------------------------------------------------
@pytest.fixture
def eo(emu) -> payfip_ws.PayFiP:
    payfip = payfip_ws.PayFiP()
    client = payfip.client
    # eopayment 3.15 ignores service_url: bind its client's default service to the emulator by hand.
    client._default_service = client.create_service(
        f"{{{NS}}}PaiementSecuriseServicePortBinding", emu.handle.service_url
    )
    return payfip


def test_eopayment_creates_and_reads_a_payment(emu, eo):
    idop = eo.get_idop(
        numcli="090909",
        saisie="T",
        exer="2019",
        refdet="ABCDEFGH",
        montant="1000",
        mel="john.doe@example.com",
        url_notification=emu.urlnotif,
        url_redirect=emu.urlredirect,
        objet="coucou",
    )
    assert UUID_RE.fullmatch(str(idop))
    with pytest.raises(payfip_ws.PayFiPError, match=r".*P5.*sultat de la transaction non connu.*"):
        eo.get_info_paiement(idop)
    emu.handle.settle(str(idop), "P", notify=False)
    response = eo.get_info_paiement(idop)
    converted = payfip_ws.Payment.payfip_response_to_eopayment_response(str(idop), response)
    assert converted.result == eocommon.PAID
    assert converted.test is True
    assert payfip_ws.Payment.get_transaction_datetime(response) is not None
    info = eo.get_info_client("090909")
    assert info.libelleN1 == "RR COMPOSTEURS INDIVIDUELS"


def test_eopayment_reads_the_faults(emu, eo):
    common = {"numcli": "090909", "saisie": "T", "exer": "2019", "montant": "1000", "objet": "coucou"}
    urls = {"url_notification": emu.urlnotif, "url_redirect": emu.urlredirect}
    with pytest.raises(payfip_ws.PayFiPError, match=r".*R3.*Le format.*REFDET.*conforme"):
        eo.get_idop(refdet="ABCD", mel="john.doe@example.com", **common, **urls)
    with pytest.raises(payfip_ws.PayFiPError, match=r".*A2.*Adresse.*incorrecte"):
        eo.get_idop(refdet="ABCDEF", mel="john.doeexample.com", **common, **urls)
    with pytest.raises(payfip_ws.PayFiPError, match=r".*P1.*IdOp incorrect.*"):
        eo.get_info_paiement("cc0cb210-1cd4-11ea-8cca-0213ad91a103")


def test_eopayment_with_the_emulator_wsdl(emu):
    """The emulator publishes the description with its own address, as PayFiP does at ?wsdl."""
    payfip = payfip_ws.PayFiP(wsdl_url=emu.handle.service_url + "?wsdl")
    assert payfip.get_info_client("000001").libelleN3 == "CANTINE"
    assert httpx.get(emu.handle.url + "/tpa/services/other.xsd").status_code == 404

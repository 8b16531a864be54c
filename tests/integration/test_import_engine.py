"""The importer on moto (no gateway): bad input, idempotence, allowed and forbidden updates, payment locks."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from espace_famille import aws
from espace_famille.clock import iso
from espace_famille.dal import catalog, keys
from espace_famille.dal import table as table_module
from espace_famille.importer import engine, s3
from espace_famille.importer.engine import Importer
from espace_famille.model import Debtor, Invoice, invoice_id
from infra.local.stack import DEMO_DIR, render_demo
from tests.import_support import (
    LINE_COLUMNS,
    csv_text,
    invoice,
    jsonl_text,
    opener,
    parents,
    unique_id,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
BUCKET = "import-engine-tests"


def run(name: str, data: bytes | str, now: datetime = NOW) -> dict[str, Any]:
    report = Importer(clock=lambda: now).run(name, opener(data))
    assert report.exception is None, report.exception
    return report.as_json()


def outcome(report: dict[str, Any]) -> dict[str, Any]:
    """What a test compares whole: status, file error, counts and errors (not the timestamps)."""
    return {k: report[k] for k in ("status", "file_error", "counts", "errors")}


def counts(read=0, created=0, updated=0, unchanged=0, rejected=0) -> dict[str, int]:
    return {"read": read, "created": created, "updated": updated, "unchanged": unchanged, "rejected": rejected}


def err(line: int, field: str, reason: str, kind: str | None = "invoice") -> dict[str, Any]:
    return {"line": line, "kind": kind, "field": field, "reason": reason}


def snapshot() -> list[dict[str, Any]]:
    """Every item of the test table, to prove that a refused file wrote nothing (a Scan: tests only)."""
    client = table_module.client()
    items: list[dict[str, Any]] = []
    args: dict[str, Any] = {"TableName": table_module.table(), "ConsistentRead": True}
    while True:
        page = client.scan(**args)
        items.extend(table_module.from_ddb(i) for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(items, key=lambda i: (i["PK"], i["SK"]))


def stored(cid: str, reference: str) -> dict[str, Any] | None:
    return table_module.get(keys.invoice(invoice_id(cid, reference.upper())), consistent=True)


def with_parents(table: str) -> str:
    cid = unique_id()
    assert run("parents.jsonl", parents(cid))["counts"] == counts(read=3, created=3)
    return cid


# -- the demo data, and idempotence ------------------------------------------------------------------
def test_demo_files_import_and_a_second_run_changes_nothing(table):
    files = [*sorted(DEMO_DIR.glob("*.jsonl")), *sorted(DEMO_DIR.glob("*.csv"))]
    texts = {p.name: render_demo(p.read_text(encoding="utf-8"), date(2026, 3, 2)) for p in files}
    first = {name: run(name, text)["counts"] for name, text in texts.items()}
    assert first == {
        "01-jolieville.jsonl": counts(read=5, created=5),
        "02-factures.csv": counts(read=6, created=6),
        "03-lignes.csv": counts(read=7, created=7),
    }
    before = snapshot()
    second = {name: run(name, text)["counts"] for name, text in texts.items()}
    assert second == {
        "01-jolieville.jsonl": counts(read=5, unchanged=5),
        "02-factures.csv": counts(read=6, unchanged=6),
        "03-lignes.csv": counts(read=7, unchanged=7),
    }
    assert snapshot() == before
    paid = stored("JOLIEVILLE", "2017-VS-00-9700")
    assert paid is not None
    assert (paid["status"], paid["paid_at"], paid["paid_by"], paid["amount_cents"]) == (
        "paid",
        "2017-07-11T14:28:09.000000Z",
        "external",
        4185,
    )
    lines, _ = table_module.query(
        "PK = :pk AND begins_with(SK, :line)",
        table_module.values(pk=f"INV#{invoice_id('JOLIEVILLE', '2017-VS-00-9700')}", line="LINE#"),
    )
    assert [(line["label"], line["quantity"], line["amount_cents"]) for line in lines] == [
        ("Repas", 12, 4020),
        ("Majoration repas non réservé", 1, 165),
    ]


def test_windows_1252_and_bom_files_import_alike(table):
    cid = with_parents(table)
    rows = [invoice(cid, "W-1", debtor_name="Mme PÉRIGNON Zoé")]
    cp1252 = run("factures.csv", csv_text(rows).encode("cp1252"))
    assert (cp1252["encoding"], cp1252["counts"]) == ("windows-1252", counts(read=1, created=1))
    bom = run("factures.csv", ("\ufeff" + csv_text(rows)).encode("utf-8"))
    assert (bom["encoding"], bom["counts"]) == ("utf-8", counts(read=1, unchanged=1))
    assert stored(cid, "W-1")["debtor_name"] == "Mme PÉRIGNON Zoé"  # type: ignore[index]


# -- files refused whole: nothing written --------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "data", "file_error"),
    [
        (
            "factures.csv",
            b"collectivite_id;regie_id\r\nJ;\x81\x8d\x8f\x90\x9d\r\n",
            "encodage non reconnu : le fichier n’est ni en UTF-8 ni en Windows-1252",
        ),
        (
            "factures.csv",
            "collectivite_id,regie_id,reference,key,debtor_id,debtor_name,issued_on,due_on,amount\r\n",
            "séparateur incorrect : les colonnes doivent être séparées par « ; »",
        ),
        (
            "factures.csv",
            "collectivite_id;regie_id;reference;debtor_id;debtor_name;issued_on;due_on;amount\r\n",
            "colonnes manquantes pour le type invoice : key",
        ),
        ("factures.csv", "", "fichier vide"),
        ("actualites.jsonl", "", "fichier vide"),
        ("paiements.csv", "a;b\r\n", None),  # unknown kind: checked below by prefix
    ],
)
def test_files_refused_whole_write_nothing(table, name, data, file_error):
    cid = with_parents(table)
    good = csv_text([invoice(cid, "GOOD-1")])
    if isinstance(data, str) and data.startswith("collectivite_id"):
        data = data + good.split("\r\n", 1)[1]  # a good row after the bad header: not imported either
    before = snapshot()
    report = run(name, data)
    assert report["status"] == "rejected"
    if file_error is not None:
        assert report["file_error"] == file_error
    else:
        assert report["file_error"].startswith("type de fichier CSV inconnu")
    assert report["counts"] == counts()
    assert report["errors"] == []
    assert snapshot() == before


def test_unknown_column_refuses_the_file(table):
    cid = with_parents(table)
    rows = [{**invoice(cid, "U-1"), "remise": "0"}]
    before = snapshot()
    report = run("factures.csv", csv_text(rows, columns=[*invoice(cid, "U-1"), "remise"]))
    assert outcome(report) == {
        "status": "rejected",
        "file_error": (
            "colonnes inconnues pour le type invoice : remise (colonnes possibles : collectivite_id, regie_id, "
            "reference, key, debtor_id, debtor_name, issued_on, due_on, amount, status, paid_at)"
        ),
        "counts": counts(),
        "errors": [],
    }
    assert snapshot() == before


def test_header_only(table):
    before = snapshot()
    report = run("factures.csv", csv_text([]))
    assert outcome(report) == {"status": "done", "file_error": None, "counts": counts(), "errors": []}
    assert snapshot() == before


# -- rows refused one by one -----------------------------------------------------------------------------
def test_truncated_last_line(table):
    cid = with_parents(table)
    text = csv_text([invoice(cid, "T-1"), invoice(cid, "T-2")])
    text = text[: text.rindex(";23,45")]
    report = run("factures.csv", text)
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=2, created=1, rejected=1),
        "errors": [err(3, "ligne", "dernière ligne tronquée : 8 valeurs pour 11 colonnes")],
    }
    assert stored(cid, "T-1") is not None and stored(cid, "T-2") is None
    jsonl = jsonl_text({"kind": "invoice", **invoice(cid, "T-3")}) + '{"kind": "invoice", "collectivite_id": "'
    report = run("factures.jsonl", jsonl)
    assert outcome(report)["errors"] == [err(2, "ligne", "JSON invalide (ligne tronquée)", kind=None)]
    assert report["counts"] == counts(read=2, created=1, rejected=1)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_10_mb_line_is_rejected_and_the_others_imported(table, fmt):
    cid = with_parents(table)
    rows = [
        invoice(cid, f"L{fmt}-1"),
        invoice(cid, f"L{fmt}-2", debtor_name="x" * 10_000_000),
        invoice(cid, f"L{fmt}-3"),
    ]
    text = csv_text(rows) if fmt == "csv" else jsonl_text(*({"kind": "invoice", **r} for r in rows))
    report = run(f"factures.{fmt}", text)
    first_row_line = 2 if fmt == "csv" else 1
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=3, created=2, rejected=1),
        "errors": [
            err(
                first_row_line + 1,
                "ligne",
                "ligne trop longue (plus de 100000 caractères) : ignorée",
                kind="invoice" if fmt == "csv" else None,
            )
        ],
    }
    assert [stored(cid, f"L{fmt}-{n}") is not None for n in (1, 2, 3)] == [True, False, True]


def test_amounts_out_of_bounds(table):
    cid = with_parents(table)
    amounts = ["-12,00", "0", "0,00", "100000,01", "250000", "23,455", "1.234,56", "23,45", "100 000,00"]
    rows = [invoice(cid, f"A-{n}", amount=a) for n, a in enumerate(amounts)]
    report = run("factures.csv", csv_text(rows))
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=9, created=2, rejected=7),
        "errors": [
            err(2, "amount", "le montant doit être positif"),
            err(3, "amount", "le montant doit être supérieur à zéro"),
            err(4, "amount", "le montant doit être supérieur à zéro"),
            err(5, "amount", "le montant dépasse 100 000 €"),
            err(6, "amount", "le montant dépasse 100 000 €"),
            err(7, "amount", "montant avec plus de deux décimales"),
            err(8, "amount", "montant illisible : « 1.234,56 »"),
        ],
    }
    assert stored(cid, "A-7")["amount_cents"] == 2345  # type: ignore[index]
    assert stored(cid, "A-8")["amount_cents"] == 100_000_00  # type: ignore[index]
    assert all(stored(cid, f"A-{n}") is None for n in range(7))


def test_impossible_dates(table):
    cid = with_parents(table)
    rows = [
        invoice(cid, "D-1", issued_on="31/02/2017"),
        invoice(cid, "D-2", due_on="2017-02-29"),
        invoice(cid, "D-3", issued_on="01/08/2017", due_on="15/07/2017"),
        invoice(cid, "D-4", status="payée", paid_at="32/07/2017 10:00"),
        invoice(cid, "D-5", issued_on="2017-08-01", due_on="2030-08-31"),
    ]
    report = run("factures.csv", csv_text(rows))
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=5, created=1, rejected=4),
        "errors": [
            err(2, "issued_on", "date impossible : « 31/02/2017 »"),
            err(3, "due_on", "date impossible : « 2017-02-29 »"),
            err(4, "due_on", "l’échéance précède la date de la facture"),
            err(
                5,
                "paid_at",
                "date et heure illisibles : « 32/07/2017 10:00 » (attendu JJ/MM/AAAA HH:MM:SS)",
            ),
        ],
    }


def test_one_report_line_names_every_bad_field_of_a_row(table):
    cid = with_parents(table)
    rows = [invoice(cid, "M-1", amount="-1,00", issued_on="31/02/2017", due_on="2017-02-29")]
    report = run("factures.csv", csv_text(rows))
    assert report["counts"] == counts(read=1, rejected=1)
    [line] = report["errors"]
    assert line["line"] == 2
    # The first bad field names the line; the reason lists the others after it, each with its own reason.
    assert line["reason"].count(" ; ") == 2, line
    named = [line["field"]] + [part.split(" : ", 1)[0] for part in line["reason"].split(" ; ")[1:]]
    assert sorted(named) == ["amount", "due_on", "issued_on"], line
    assert "le montant doit être positif" in line["reason"]
    assert "date impossible : « 31/02/2017 »" in line["reason"]
    assert "date impossible : « 2017-02-29 »" in line["reason"]
    assert stored(cid, "M-1") is None


def test_duplicate_references_in_one_file(table):
    cid = with_parents(table)
    rows = [
        invoice(cid, "DUP-1"),
        invoice(cid, "DUP-2"),
        invoice(cid, "dup-1", amount="99,00"),  # the same reference once normalised
        invoice(cid, "DUP-1", regie_id="GARDERIE"),
    ]
    report = run("factures.csv", csv_text(rows))
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=4, created=2, rejected=2),
        "errors": [
            err(4, "reference", "en double dans le fichier (déjà ligne 2)"),
            err(5, "reference", "en double dans le fichier (déjà ligne 2)"),
        ],
    }
    assert stored(cid, "DUP-1")["amount_cents"] == 2345  # type: ignore[index]


def test_duplicates_are_found_across_chunks(table, monkeypatch):
    monkeypatch.setattr(engine, "CHUNK_ROWS", 3)
    cid = with_parents(table)
    rows = [invoice(cid, f"CH-{n}") for n in range(7)] + [invoice(cid, "CH-1")]
    report = run("factures.csv", csv_text(rows))
    assert report["counts"] == counts(read=8, created=7, rejected=1)
    assert report["errors"] == [err(9, "reference", "en double dans le fichier (déjà ligne 3)")]


@pytest.mark.parametrize("chunk_rows", [100, 2])
def test_a_row_rejected_while_applied_does_not_block_its_correction(table, monkeypatch, chunk_rows):
    """docs/import-format.md §4: only an earlier VALID row makes a later one a duplicate."""
    monkeypatch.setattr(engine, "CHUNK_ROWS", chunk_rows)
    cid = with_parents(table)
    rows = [
        invoice(cid, "FIX-1", regie_id="PISCINE"),  # a régie that does not exist: rejected while applied
        invoice(cid, "FIX-2"),
        invoice(cid, "FIX-1", amount="11,00"),  # the corrected row
        invoice(cid, "FIX-1", amount="12,00"),  # a duplicate of the corrected row
    ]
    report = run("factures.csv", csv_text(rows))
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=4, created=2, rejected=2),
        "errors": [
            err(2, "regie_id", f"régie inconnue : PISCINE (collectivité {cid})"),
            err(5, "reference", "en double dans le fichier (déjà ligne 4)"),
        ],
    }
    assert stored(cid, "FIX-1")["amount_cents"] == 1100  # type: ignore[index]


def test_the_lines_of_a_corrected_invoice_follow_it_in_the_same_chunk(table):
    cid = with_parents(table)
    rows = [
        {"kind": "invoice", **invoice(cid, "FIXP-1", regie_id="PISCINE", amount="10,00", paid_at=None)},
        {"kind": "invoice", **invoice(cid, "FIXP-1", amount="10,00", paid_at=None)},
        {"kind": "invoice_line", **_line(cid, "FIXP-1", 1, "10,00")},
    ]
    report = run("corrige.jsonl", jsonl_text(*rows))
    assert report["counts"] == counts(read=3, created=2, rejected=1)
    assert [e["line"] for e in report["errors"]] == [1]
    assert report["warnings"] == []


def test_a_line_rejected_while_applied_does_not_block_its_correction(table):
    cid = with_parents(table)
    run("factures.csv", csv_text([invoice(cid, "FIXL-1", amount="10,00")]))
    lines = [_line(cid, "FIXL-1", 1, "-20,00"), _line(cid, "FIXL-1", 1, "10,00")]
    report = run("lignes.csv", csv_text(lines, columns=LINE_COLUMNS))
    assert report["counts"] == counts(read=2, created=1, rejected=1)
    assert [e["line"] for e in report["errors"]] == [2]


def test_a_reference_already_used_by_another_regie_of_the_collectivite(table):
    cid = with_parents(table)
    assert run("factures.csv", csv_text([invoice(cid, "SHARED-1")]))["counts"] == counts(read=1, created=1)
    before = stored(cid, "SHARED-1")
    report = run("factures.csv", csv_text([invoice(cid, "SHARED-1", regie_id="GARDERIE", key="AUTRE")]))
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=1, rejected=1),
        "errors": [err(2, "reference", "référence déjà utilisée par la régie CANTINE de la collectivité")],
    }
    assert stored(cid, "SHARED-1") == before


def test_unknown_collectivite_or_regie(table):
    cid = with_parents(table)
    stranger = unique_id("X")
    rows = [
        invoice(stranger, "UK-1"),
        invoice(cid, "UK-2", regie_id="PISCINE"),
        invoice(cid, "UK-3"),
    ]
    lines = [
        {
            "collectivite_id": cid,
            "reference": "NOPE-1",
            "line_no": 1,
            "label": "Repas",
            "quantity": 1,
            "unit_price": "3,35",
            "amount": "3,35",
        }
    ]
    before = snapshot()
    report = run("factures.csv", csv_text(rows))
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=3, created=1, rejected=2),
        "errors": [
            err(2, "collectivite_id", f"collectivité inconnue : {stranger}"),
            err(3, "regie_id", f"régie inconnue : PISCINE (collectivité {cid})"),
        ],
    }
    news = {
        "kind": "news",
        "collectivite_id": stranger,
        "published_on": "2019-10-03",
        "category": "Info",
        "title": "T",
        "body": "B",
    }
    regie = {"kind": "regie", "collectivite_id": stranger, "regie_id": "R", "name": "R", "payment_backend": "none"}
    report = run("divers.jsonl", jsonl_text(news, regie))
    assert report["errors"] == [
        err(1, "collectivite_id", f"collectivité inconnue : {stranger}", kind="news"),
        err(2, "collectivite_id", f"collectivité inconnue : {stranger}", kind="regie"),
    ]
    report = run("lignes.csv", csv_text(lines, columns=LINE_COLUMNS))
    assert report["errors"] == [
        err(2, "reference", f"facture inconnue : NOPE-1 (collectivité {cid})", kind="invoice_line")
    ]
    after = snapshot()
    assert [i for i in after if i not in before] == [
        i for i in after if i.get("reference") == "UK-3" or (i.get("kind") == "debtor" and i["collectivite_id"] == cid)
    ]


def test_parents_and_children_in_one_file_in_any_order(table):
    cid = unique_id()
    rows = [
        {
            "kind": "invoice_line",
            "collectivite_id": cid,
            "reference": "MIX-1",
            "line_no": 1,
            "label": "Repas",
            "quantity": 7,
            "unit_price": 3.35,
            "amount": 23.45,
        },
        {"kind": "invoice", **invoice(cid, "MIX-1", amount=23.45)},
        {
            "kind": "regie",
            "collectivite_id": cid,
            "regie_id": "CANTINE",
            "name": "Cantine",
            "payment_backend": "payfip",
            "payment_options": {"numcli": "000001"},
        },
        {"kind": "collectivite", "collectivite_id": cid, "name": "Ville"},
    ]
    report = run("tout.jsonl", jsonl_text(*rows))
    assert outcome(report) == {"status": "done", "file_error": None, "counts": counts(read=4, created=4), "errors": []}


# -- updates -------------------------------------------------------------------------------------------
def test_allowed_updates_while_open(table):
    cid = with_parents(table)
    refs = ["UP-PAID", "UP-CANCEL", "UP-AMOUNT", "UP-DUE", "UP-NAME", "UP-SAME"]
    run("factures.csv", csv_text([invoice(cid, r) for r in refs]))
    changed = [
        invoice(cid, "UP-PAID", status="payée", paid_at="11/07/2017 16:28:09"),
        invoice(cid, "UP-CANCEL", status="annulée"),
        invoice(cid, "UP-AMOUNT", amount="30,00"),
        invoice(cid, "UP-DUE", due_on="15/09/2030"),
        invoice(cid, "UP-NAME", debtor_name="M LACROIX Jérôme"),
        invoice(cid, "UP-SAME"),
    ]
    report = run("factures.csv", csv_text(changed))
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=6, updated=5, unchanged=1),
        "errors": [],
    }
    paid = stored(cid, "UP-PAID")
    assert paid is not None
    assert (paid["status"], paid["paid_at"], paid["paid_by"]) == ("paid", "2017-07-11T14:28:09.000000Z", "external")
    assert paid["GSI1SK"].startswith("P#")  # now listed with the paid invoices
    cancelled = stored(cid, "UP-CANCEL")
    assert cancelled is not None and (cancelled["status"], cancelled["GSI1SK"][:2]) == ("cancelled", "X#")
    assert stored(cid, "UP-AMOUNT")["amount_cents"] == 3000  # type: ignore[index]
    assert stored(cid, "UP-DUE")["due_on"] == "2030-09-15"  # type: ignore[index]
    debtor = table_module.get(keys.debtor(cid, "CANTINE", "LACROIX-J"), consistent=True)
    assert debtor is not None and debtor["name"] == "M LACROIX Jérôme"
    # Idempotent: the same file again changes nothing.
    before = snapshot()
    assert run("factures.csv", csv_text(changed))["counts"] == counts(read=6, unchanged=6)
    assert snapshot() == before


def test_forbidden_updates_are_reported_and_change_nothing(table):
    cid = with_parents(table)
    run(
        "factures.csv",
        csv_text(
            [
                invoice(cid, "NO-PAID", status="paid", paid_at="11/07/2017 16:28:09"),
                invoice(cid, "NO-PAID2", status="paid", paid_at="11/07/2017 16:28:09"),
                invoice(cid, "NO-PAID3", status="paid", paid_at="11/07/2017 16:28:09"),
                invoice(cid, "NO-CANCEL", status="cancelled"),
                invoice(cid, "NO-DEBTOR"),
                invoice(cid, "NO-ISSUED"),
                invoice(cid, "NO-KEY"),
            ]
        ),
    )
    before = snapshot()
    report = run(
        "factures.csv",
        csv_text(
            [
                invoice(cid, "NO-PAID"),  # paid never goes back to open
                invoice(cid, "NO-PAID2", status="cancelled"),
                invoice(cid, "NO-PAID3", status="paid", paid_at="12/07/2017 09:00", amount="99,99"),
                invoice(cid, "NO-CANCEL"),
                invoice(cid, "NO-DEBTOR", debtor_id="MARTIN-S"),
                invoice(cid, "NO-ISSUED", issued_on="02/08/2017"),
                invoice(cid, "NO-KEY", key="AUTRECLE"),
            ]
        ),
    )
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=7, rejected=7),
        "errors": [
            err(2, "status", "facture déjà payée : elle ne repasse pas à payer"),
            err(3, "status", "facture déjà payée : elle ne peut plus changer"),
            err(4, "status", "facture déjà payée : elle ne peut plus changer"),
            err(5, "status", "facture annulée : elle ne peut plus changer"),
            err(6, "debtor_id", "débiteur d’une facture existante : ne peut pas changer"),
            err(7, "issued_on", "date de la facture d’une facture existante : ne peut pas changer"),
            err(8, "key", "clé d’une facture existante : ne peut pas changer"),
        ],
    }
    assert snapshot() == before
    assert "AUTRECLE" not in json.dumps(report)


def test_a_paid_invoice_reexported_as_paid_keeps_the_portals_payment(table):
    cid = with_parents(table)
    run("factures.csv", csv_text([invoice(cid, "PORTAL-1")]))
    item = stored(cid, "PORTAL-1")
    assert item is not None
    paid = replace(catalog.invoice_from(item), status="paid", paid_at="2026-03-01T10:00:00.000000Z", paid_by="pay-123")
    catalog.put_all([paid])
    report = run("factures.csv", csv_text([invoice(cid, "PORTAL-1", status="paid", paid_at="02/03/2026 09:00")]))
    assert report["counts"] == counts(read=1, unchanged=1)
    after = stored(cid, "PORTAL-1")
    assert after is not None and (after["paid_by"], after["paid_at"]) == ("pay-123", "2026-03-01T10:00:00.000000Z")


# -- invoices held by a live payment -------------------------------------------------------------------
def _lock(cid: str, reference: str, until: datetime) -> Invoice:
    item = stored(cid, reference)
    assert item is not None
    locked = replace(catalog.invoice_from(item), lock_payment_id="pay-live", lock_until=iso(until))
    catalog.put_all([locked])
    return locked


def test_an_invoice_inside_a_live_payment_is_not_modified(table):
    cid = with_parents(table)
    lines = [
        {
            "collectivite_id": cid,
            "reference": "LOCK-1",
            "line_no": 1,
            "label": "Repas",
            "quantity": 7,
            "unit_price": "3,35",
            "amount": "23,45",
        }
    ]
    run("factures.csv", csv_text([invoice(cid, "LOCK-1"), invoice(cid, "LOCK-2")]))
    run("lignes.csv", csv_text(lines, columns=LINE_COLUMNS))
    _lock(cid, "LOCK-1", NOW + timedelta(minutes=20))
    _lock(cid, "LOCK-2", NOW + timedelta(minutes=20))
    before = snapshot()
    changed_line = [{**lines[0], "quantity": 6, "amount": "20,10"}]
    report = run(
        "factures.csv",
        csv_text(
            [invoice(cid, "LOCK-1", amount="30,00"), invoice(cid, "LOCK-2", status="paid", paid_at="01/03/2026 10:00")]
        ),
    )
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=2, rejected=2),
        "errors": [
            err(2, "reference", "facture en cours de paiement : non modifiée"),
            err(3, "reference", "facture en cours de paiement : non modifiée"),
        ],
    }
    line_report = run("lignes.csv", csv_text(changed_line, columns=LINE_COLUMNS))
    assert line_report["errors"] == [
        err(2, "reference", "facture en cours de paiement : ligne non modifiée", kind="invoice_line")
    ]
    # The same file as before the payment is no change at all, lock or not.
    assert run("factures.csv", csv_text([invoice(cid, "LOCK-1")]))["counts"] == counts(read=1, unchanged=1)
    assert snapshot() == before
    # Once the lock has lapsed (the payment was abandoned), the update goes through and keeps the stale lock
    # attributes, which no longer hold anything.
    later = NOW + timedelta(minutes=21)
    report = run("factures.csv", csv_text([invoice(cid, "LOCK-1", amount="30,00")]), now=later)
    assert report["counts"] == counts(read=1, updated=1)
    assert stored(cid, "LOCK-1")["amount_cents"] == 3000  # type: ignore[index]


def test_a_payment_that_locks_the_invoice_during_the_import_wins(table, monkeypatch):
    cid = with_parents(table)
    run("factures.csv", csv_text([invoice(cid, "RACE-1")]))
    real_lookup = catalog.lookup

    def lookup_then_lock(**kwargs: Any) -> Any:
        found = real_lookup(**kwargs)
        if any(isinstance(r, Invoice) for r in kwargs.get("records", ())):
            _lock(cid, "RACE-1", NOW + timedelta(minutes=20))  # a parent starts paying right now
        return found

    monkeypatch.setattr(catalog, "lookup", lookup_then_lock)
    report = run("factures.csv", csv_text([invoice(cid, "RACE-1", amount="30,00", debtor_name="Nouveau nom")]))
    assert report["errors"] == [err(2, "reference", "facture prise par un paiement entre-temps : non modifiée")]
    item = stored(cid, "RACE-1")
    assert item is not None and (item["amount_cents"], item["lock_payment_id"]) == (2345, "pay-live")
    # The debtor's new name went with the refused update (one transaction), not without it.
    debtor = table_module.get(keys.debtor(cid, "CANTINE", "LACROIX-J"), consistent=True)
    assert debtor is not None and debtor["name"] == "M LACROIX Jerome"


# -- invoice lines -----------------------------------------------------------------------------------
def test_lines_of_open_and_closed_invoices(table):
    cid = with_parents(table)
    run(
        "factures.csv",
        csv_text([invoice(cid, "LN-OPEN"), invoice(cid, "LN-PAID", status="paid", paid_at="11/07/2017 16:28")]),
    )

    def line(ref: str, n: int, qty: int) -> dict[str, Any]:
        return {
            "collectivite_id": cid,
            "reference": ref,
            "line_no": n,
            "label": "Repas",
            "quantity": qty,
            "unit_price": "3,35",
            "amount": f"{qty * 3.35:.2f}".replace(".", ","),
        }

    first = run("lignes.csv", csv_text([line("LN-OPEN", 1, 7), line("LN-PAID", 1, 7)], columns=LINE_COLUMNS))
    assert first["counts"] == counts(read=2, created=2)
    again = run(
        "lignes.csv",
        csv_text([line("LN-OPEN", 1, 6), line("LN-PAID", 1, 6), line("LN-PAID", 2, 1)], columns=LINE_COLUMNS),
    )
    assert outcome(again) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=3, created=1, updated=1, rejected=1),
        "errors": [err(3, "reference", "facture payée : ses lignes ne changent plus", kind="invoice_line")],
    }


def _line(cid: str, reference: str, n: int, amount: str, label: str = "Repas") -> dict[str, Any]:
    return {
        "collectivite_id": cid,
        "reference": reference,
        "line_no": n,
        "label": label,
        "quantity": 1,
        "unit_price": amount,
        "amount": amount,
    }


def _queries() -> int:
    calls = httpx.get(f"{os.environ['AWS_ENDPOINT_URL']}/__local__/dynamodb-calls").json()
    return int(calls.get("Query", 0))


def test_a_line_beyond_its_invoices_amount_is_rejected(table):
    cid = with_parents(table)
    run("factures.csv", csv_text([invoice(cid, "BIG-1", amount="5,00")]))
    lines = [
        _line(cid, "BIG-1", 1, "-100000,00"),
        _line(cid, "BIG-1", 2, "5,01"),
        _line(cid, "BIG-1", 3, "-5,01"),
        _line(cid, "BIG-1", 4, "5,00"),
        _line(cid, "BIG-1", 5, "-5,00"),  # a credit, within the invoice's amount
        _line(cid, "BIG-1", 6, "5,00"),
    ]
    report = run("lignes.csv", csv_text(lines, columns=LINE_COLUMNS))
    reason = "montant de la ligne au-delà de celui de la facture (± 5,00 €)"
    assert outcome(report) == {
        "status": "done",
        "file_error": None,
        "counts": counts(read=6, created=3, rejected=3),
        "errors": [err(n, "amount", reason, kind="invoice_line") for n in (2, 3, 4)],
    }
    assert report["warnings"] == []  # 5 - 5 + 5 = 5


def test_lines_that_do_not_sum_to_their_invoice_are_warned_of_in_this_file_or_a_later_one(table):
    cid = with_parents(table)
    both = [
        {"kind": "invoice", **invoice(cid, "SUM-1", amount="10,00", paid_at=None)},
        {"kind": "invoice", **invoice(cid, "SUM-2", amount="10,00", paid_at=None)},
        {"kind": "invoice_line", **_line(cid, "SUM-1", 1, "4,00")},
        {"kind": "invoice_line", **_line(cid, "SUM-1", 2, "4,00")},
        {"kind": "invoice_line", **_line(cid, "SUM-2", 1, "8,00", "Repas")},
        {"kind": "invoice_line", **_line(cid, "SUM-2", 2, "4,00", "Repas")},
        {"kind": "invoice_line", **_line(cid, "SUM-2", 3, "-2,00", "Remise")},  # a credit
    ]
    first = run("mixte.jsonl", jsonl_text(*both))
    assert first["counts"] == counts(read=7, created=7)
    assert first["warnings"] == [
        {
            "line": 1,
            "kind": "invoice",
            "field": "amount",
            "reason": "les lignes de la facture SUM-1 totalisent 8,00 € pour un montant de 10,00 €",
        }
    ]
    # The missing line comes in a later file: the invoice is whole, nothing to warn of.
    later = run("lignes.csv", csv_text([_line(cid, "SUM-1", 3, "2,00")], columns=LINE_COLUMNS))
    assert later["counts"] == counts(read=1, created=1)
    assert later["warnings"] == []
    # A line changed, or the amount: warned of, from what is stored.
    changed = run("lignes.csv", csv_text([_line(cid, "SUM-1", 3, "3,00")], columns=LINE_COLUMNS))
    assert [w["reason"] for w in changed["warnings"]] == [
        "les lignes de la facture SUM-1 totalisent 11,00 € pour un montant de 10,00 €"
    ]
    assert changed["warnings"][0]["kind"] == "invoice_line"
    amount = run("factures.csv", csv_text([invoice(cid, "SUM-2", amount="9,00")]))
    assert [w["reason"] for w in amount["warnings"]] == [
        "les lignes de la facture SUM-2 totalisent 10,00 € pour un montant de 9,00 €"
    ]
    # An invoice without any line is not warned of (its lines may come later).
    alone = run("factures.csv", csv_text([invoice(cid, "SUM-3", amount="9,00")]))
    assert alone["warnings"] == [] and alone["warnings_truncated"] is False


def test_the_totals_check_reads_only_what_the_import_changed(table):
    cid = with_parents(table)
    invoices = [invoice(cid, f"TOT-{n}", amount="10,00") for n in range(30)]
    lines = [_line(cid, f"TOT-{n}", 1, "10,00") for n in range(30)]
    before = _queries()
    run("factures.csv", csv_text(invoices))
    run("lignes.csv", csv_text(lines, columns=LINE_COLUMNS))
    # New invoices: all their lines are in the file, nothing to read back. Lines of invoices that existed
    # before: one Query per invoice.
    assert _queries() - before == 30
    before = _queries()
    again = run("lignes.csv", csv_text(lines, columns=LINE_COLUMNS))
    assert again["counts"] == counts(read=30, unchanged=30)
    assert _queries() == before  # nothing changed, nothing to check
    both = [{"kind": "invoice", **invoice(cid, f"TOT-N{n}", amount="10,00", paid_at=None)} for n in range(30)]
    both += [{"kind": "invoice_line", **_line(cid, f"TOT-N{n}", 1, "10,00")} for n in range(30)]
    assert run("nouvelles.jsonl", jsonl_text(*both))["warnings"] == []
    assert _queries() == before


# -- the report ----------------------------------------------------------------------------------------
def test_the_key_is_never_in_the_report(table):
    cid = with_parents(table)
    secret = "ZQXJ-SECRET-4711"
    rows = [
        invoice(cid, "KEY-1", key=secret),
        invoice(cid, "KEY-2", key=secret, amount="-1"),
        invoice(cid, "KEY-3", key=secret + " !"),
        invoice(cid, "KEY-1", key=secret),
    ]
    report = run("factures.csv", csv_text(rows))
    assert report["counts"] == counts(read=4, created=1, rejected=3)
    assert secret not in json.dumps(report)
    item = stored(cid, "KEY-1")
    assert item is not None and secret not in json.dumps(item)  # only its digest is stored


def test_errors_are_capped_but_counted(table, monkeypatch):
    monkeypatch.setattr(engine, "MAX_REPORTED_ERRORS", 5)
    cid = with_parents(table)
    report = run("factures.csv", csv_text([invoice(cid, f"CAP-{n}", amount="0") for n in range(12)]))
    assert report["counts"] == counts(read=12, rejected=12)
    assert [e["line"] for e in report["errors"]] == [2, 3, 4, 5, 6]
    assert report["errors_truncated"] is True


def test_an_interrupted_import_says_so_and_can_be_run_again(table, monkeypatch):
    cid = with_parents(table)
    rows = [invoice(cid, f"FAIL-{n}") for n in range(5)]
    real_put_all = catalog.put_all

    def broken(records: Any) -> int:
        raise ConnectionError("DynamoDB injoignable")

    monkeypatch.setattr(catalog, "put_all", broken)
    report = Importer(clock=lambda: NOW).run("factures.csv", opener(csv_text(rows)))
    assert report.status == "failed"
    assert report.file_error == "import interrompu par une erreur technique (ConnectionError) : le relancer"
    assert isinstance(report.exception, ConnectionError)
    monkeypatch.setattr(catalog, "put_all", real_put_all)
    assert run("factures.csv", csv_text(rows))["counts"] == counts(read=5, created=5)


# -- the S3 entry ------------------------------------------------------------------------------------
@pytest.fixture
def bucket(table):
    aws.forget_clients()
    client = boto3.client("s3")
    try:
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    yield client
    aws.forget_clients()


def report_keys(client: Any) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="reports/").get("Contents", [])]


def test_an_s3_key_outside_imports_is_refused_unread(table, bucket):
    cid = with_parents(table)
    bucket.put_object(
        Bucket=BUCKET, Key=f"ailleurs/{cid}/factures.csv", Body=csv_text([invoice(cid, "OUT-1")]).encode()
    )
    before, reports = snapshot(), report_keys(bucket)
    for key in (f"ailleurs/{cid}/factures.csv", "reports/x.csv.json", "imports/", "imports/dossier/"):
        report = s3.import_object(BUCKET, key, clock=lambda: NOW)
        assert (report.status, report.file_error, report.counts) == (
            "rejected",
            "objet hors du dossier imports/ : ignoré",
            counts(),
        )
    assert snapshot() == before
    assert report_keys(bucket) == reports


def test_an_s3_object_is_imported_and_reported_next_to_it(table, bucket):
    cid = with_parents(table)
    key = f"imports/{cid}/factures.csv"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=csv_text([invoice(cid, "V-1")]).encode())
    report = s3.import_object(BUCKET, key, clock=lambda: NOW)
    assert report.counts == counts(read=1, created=1)
    written = json.loads(bucket.get_object(Bucket=BUCKET, Key=f"reports/{cid}/factures.csv.json")["Body"].read())
    assert written == report.as_json()


def test_an_object_replaced_during_its_import_is_never_mixed_with_its_successor(table, bucket):
    cid = with_parents(table)
    key = f"imports/{cid}/factures.csv"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=csv_text([invoice(cid, "V-1")]).encode())
    real = boto3.client("s3")

    class ReplacedAfterFirstRead:
        """The S3 client, with the object replaced right after the importer's first read of it."""

        reads = 0

        def get_object(self, **kwargs: Any) -> Any:
            if self.reads == 1:
                real.put_object(Bucket=BUCKET, Key=key, Body=csv_text([invoice(cid, "V-2")]).encode())
            self.reads += 1
            return real.get_object(**kwargs)

        def put_object(self, **kwargs: Any) -> Any:
            return real.put_object(**kwargs)

    aws._clients["s3"] = ReplacedAfterFirstRead()
    with pytest.raises(ClientError, match="PreconditionFailed"):
        s3.import_object(BUCKET, key, clock=lambda: NOW)
    written = json.loads(bucket.get_object(Bucket=BUCKET, Key=f"reports/{cid}/factures.csv.json")["Body"].read())
    assert (written["status"], written["counts"]) == ("failed", counts())
    assert stored(cid, "V-1") is None and stored(cid, "V-2") is None
    # S3 invokes the function again: the new version alone is imported.
    aws.forget_clients()
    assert s3.import_object(BUCKET, key, clock=lambda: NOW).counts == counts(read=1, created=1)
    assert stored(cid, "V-1") is None and stored(cid, "V-2") is not None


def test_an_interrupted_s3_import_writes_its_report_then_fails(table, bucket, monkeypatch):
    cid = with_parents(table)
    key = f"imports/{cid}/factures.csv"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=csv_text([invoice(cid, "S3FAIL-1")]).encode())

    def broken(records: Any) -> int:
        raise ConnectionError("DynamoDB injoignable")

    monkeypatch.setattr(catalog, "put_all", broken)
    with pytest.raises(ConnectionError):
        s3.import_object(BUCKET, key, clock=lambda: NOW)
    written = json.loads(bucket.get_object(Bucket=BUCKET, Key=f"reports/{cid}/factures.csv.json")["Body"].read())
    assert (written["status"], written["counts"]["read"]) == ("failed", 1)


# -- debtors -----------------------------------------------------------------------------------------
def test_a_debtor_takes_the_last_name_the_file_gives_it(table, monkeypatch):
    monkeypatch.setattr(engine, "CHUNK_ROWS", 3)
    cid = with_parents(table)
    names = [
        "M LACROIX Jerome",
        "M LACROIX Jérôme",
        "M LACROIX Jerome",
        "M LACROIX J.",
        "M LACROIX J.",
        "M LACROIX Jérôme",
    ]
    rows = [invoice(cid, f"NAME-{n}", debtor_name=name) for n, name in enumerate(names)]
    assert run("factures.csv", csv_text(rows))["counts"] == counts(read=6, created=6)
    debtor = table_module.get(keys.debtor(cid, "CANTINE", "LACROIX-J"), consistent=True)
    assert debtor is not None and debtor["name"] == "M LACROIX Jérôme"
    # Each import looks a debtor up once, not once per chunk: it remembers what it read and wrote.
    real_lookup = catalog.lookup
    looked_up: list[Any] = []

    def counting_lookup(**kwargs: Any) -> Any:
        looked_up.extend(r for r in kwargs.get("records", ()) if isinstance(r, Debtor))
        return real_lookup(**kwargs)

    monkeypatch.setattr(catalog, "lookup", counting_lookup)
    assert run("factures.csv", csv_text(rows))["counts"] == counts(read=6, unchanged=6)
    assert len(looked_up) == 1
    assert table_module.get(keys.debtor(cid, "CANTINE", "LACROIX-J"), consistent=True) == debtor

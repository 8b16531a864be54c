"""`espace-famille payments refund` and `payments export` against a payment made through the local PayFiP."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_import_cli import cli, state_file  # noqa: F401 - state_file is a fixture
from tests.integration.test_payments import _browser_pays, emulator, family  # noqa: F401 - emulator: fixture

pytestmark = pytest.mark.integration


def paid_family(stack):
    fam = family(stack)
    started = fam.pay("c1", "c2")
    assert started.status_code == 201, started.text
    pid = started.json()["payment_id"]
    assert _browser_pays(started.json()["redirect_url"], "P").status_code == 303
    assert fam.payment(pid)["status"] == "paid"
    return fam, pid


def test_a_refund_reopens_the_invoices_and_is_recorded_once(stack, emulator, state_file):  # noqa: F811
    fam, pid = paid_family(stack)
    total_before = fam.parent.get("/api/invoices").json()["total_due_cents"]
    no_note = cli("payments", "refund", pid, "--note", " ", "--state-file", str(state_file))
    assert no_note.returncode == 1 and fam.payment(pid)["status"] == "paid"
    done = cli("payments", "refund", pid, "--note", "virement 4521 du 27/11", "--state-file", str(state_file))
    assert done.returncode == 0, done.stderr
    assert fam.rows["c1"]["reference"] in done.stdout and fam.rows["c2"]["reference"] in done.stdout
    assert fam.payment(pid)["status"] == "refunded"
    for name in ("c1", "c2"):
        assert fam.invoice(name)["status"] == "open"
    assert fam.parent.get("/api/invoices").json()["total_due_cents"] == total_before + 2345 + 1200
    again = cli("payments", "refund", pid, "--note", "deux fois", "--state-file", str(state_file))
    assert again.returncode == 1 and "refunded" in again.stderr
    unknown = cli("payments", "refund", "nope", "--note", "x", "--state-file", str(state_file))
    assert unknown.returncode == 1
    shown = cli("payments", "show", pid, "--state-file", str(state_file))
    assert shown.returncode == 0 and "statut : refunded" in shown.stdout and "virement 4521" in shown.stdout


def test_the_treasury_export_lists_the_period_payments_per_regie(stack, emulator, state_file, tmp_path):  # noqa: F811
    fam, pid = paid_family(stack)
    today = datetime.now(UTC).date()
    period = ["--from", str(today - timedelta(days=1)), "--to", str(today + timedelta(days=2))]
    out = tmp_path / "exports"
    regie = f"{fam.cid}/CANTINE"
    done = cli("payments", "export", *period, "--regie", regie, "--out", str(out), "--state-file", str(state_file))
    assert done.returncode == 0, done.stderr
    [path] = out.iterdir()
    assert path.name == f"{fam.cid}-CANTINE-{period[1]}-{period[3]}.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == ["date", "refdet", "idop", "montant", "factures", "transaction", "statut"]
    [row] = rows[1:]
    payment = fam.payment(pid)
    refs = f"{fam.rows['c1']['reference']} {fam.rows['c2']['reference']}"
    assert row[1:5] == [pid.upper(), row[2], "35,45", refs] and row[2] and row[6] == "payé"
    assert row[5] == payment["transaction_number"]
    # Outside the period, nothing.
    empty = tmp_path / "empty"
    later = ["--from", str(today + timedelta(days=2)), "--to", str(today + timedelta(days=3))]
    nothing = cli("payments", "export", *later, "--regie", regie, "--out", str(empty), "--state-file", str(state_file))
    assert nothing.returncode == 0 and not list(empty.iterdir())
    bad = cli("payments", "export", "--from", "27/11/2026", "--to", "x", "--state-file", str(state_file))
    assert bad.returncode == 3

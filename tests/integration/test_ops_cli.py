"""Operations' commands against the local stack: `espace-famille regies check` (PayFiP's client call)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.local.payfip import DEFAULT_CLIENTS
from tests.import_support import jsonl_text, unique_id
from tests.integration.test_import_cli import cli, state_file, write  # noqa: F401 - state_file is a fixture

pytestmark = pytest.mark.integration


def regies_file(cid: str, numclis: dict[str, str]) -> str:
    rows: list[dict[str, object]] = [{"kind": "collectivite", "collectivite_id": cid, "name": f"Ville {cid}"}]
    for rid, numcli in numclis.items():
        options = {"numcli": numcli, "saisie": "W"} if numcli else {}
        rows.append(
            {
                "kind": "regie",
                "collectivite_id": cid,
                "regie_id": rid,
                "name": f"Régie {rid.lower()}",
                "payment_backend": "payfip",
                "payment_options": options,
            }
        )
    return jsonl_text(*rows)


def imported(tmp_path: Path, state: Path, numclis: dict[str, str]) -> str:
    cid = unique_id("R")
    done = cli("import", str(write(tmp_path, "regies.jsonl", regies_file(cid, numclis))), "--state-file", str(state))
    assert done.returncode == 0, done.stderr
    return cid


def test_known_regies_pass_and_show_their_configuration(tmp_path, state_file):  # noqa: F811
    known = sorted(DEFAULT_CLIENTS)[0]
    cid = imported(tmp_path, state_file, {"CANTINE": known})
    done = cli("regies", "check", "--collectivite", cid, "--state-file", str(state_file))
    assert done.returncode == 0, done.stdout + done.stderr
    labels = " / ".join(label for label in DEFAULT_CLIENTS[known] if label)
    # The local stack runs in PayFiP's test mode, whatever the régie file says (W).
    assert done.stdout.splitlines() == [
        f"{cid}/CANTINE « Régie cantine » : payfip (numcli={known}, saisie=W), mode T",
        f"  connu de PayFiP : {labels}",
    ]


def test_an_unknown_numcli_fails_with_exit_code_1(tmp_path, state_file):  # noqa: F811
    known = sorted(DEFAULT_CLIENTS)[0]
    cid = imported(tmp_path, state_file, {"A": known, "B": "999999"})
    done = cli("regies", "check", "--collectivite", cid, "--json", "--state-file", str(state_file))
    assert done.returncode == 1, done.stdout + done.stderr
    outcomes = {r["regie_id"]: r["outcome"] for r in json.loads(done.stdout)}
    assert outcomes == {"A": "known", "B": "unknown"}


def test_payfip_unreachable_exits_3(tmp_path, state_file):  # noqa: F811
    cid = imported(tmp_path, state_file, {"CANTINE": sorted(DEFAULT_CLIENTS)[0]})
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["payfip_service_url"] = "http://127.0.0.1:9/tpa/services/securite"
    broken = write(tmp_path, "broken.json", json.dumps(state))
    done = cli("regies", "check", "--collectivite", cid, "--state-file", str(broken))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "PayFiP injoignable" in done.stdout

"""Business metrics: the events the docs name are published as CloudWatch metrics (EMF lines in the log)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.support import Client, signed_up, unique_email


def published(log: Path, name: str) -> float:
    """The sum of a metric over the EMF lines the functions printed so far."""
    total = 0.0
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"CloudWatchMetrics"' not in line or f'"{name}"' not in line:
            continue
        try:
            record = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        declared = [m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
        if name in declared and record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "EspaceFamille":
            value = record[name]
            total += sum(value) if isinstance(value, list) else value
    return total


def wait_published(log: Path, name: str, at_least: float, timeout: float = 10) -> float:
    deadline = time.monotonic() + timeout
    while (found := published(log, name)) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_a_confirmed_account_a_failed_login_and_a_failed_claim_are_counted(stack):
    log = stack.log_path
    before = {n: published(log, n) for n in ("AccountsCreated", "LoginsFailed", "ClaimsFailed")}
    parent = signed_up(stack.url)
    assert wait_published(log, "AccountsCreated", before["AccountsCreated"] + 1) == before["AccountsCreated"] + 1
    with Client(stack.url) as stranger:
        wrong = stranger.post("/api/session", json={"email": unique_email(), "password": "pas le bon mot de passe"})
        assert wrong.status_code == 401
    assert wait_published(log, "LoginsFailed", before["LoginsFailed"] + 1) == before["LoginsFailed"] + 1
    claim = {"collectivite_id": "JOLIEVILLE", "reference": "NULLE-PART-1", "key": "KNOPE1"}
    assert parent.post("/api/claims", json=claim).status_code == 404
    assert wait_published(log, "ClaimsFailed", before["ClaimsFailed"] + 1) == before["ClaimsFailed"] + 1
    # An answer that says nothing of the business is not counted.
    assert parent.get("/api/health").status_code == 200
    assert published(log, "LoginsFailed") == before["LoginsFailed"] + 1

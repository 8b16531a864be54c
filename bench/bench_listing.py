"""« Mes factures » through the local gateway for accounts linked to 1, 3 and 10 régies, side by side with health.

Each régie holds 200 invoices of the same family, a quarter of them open. Requests of every kind are
interleaved, so the noise of a shared machine hits all of them alike; each figure is the median of its own
requests and each ratio divides it by health's median, measured through the same gateway in the same run.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

import httpx

from bench import Row
from infra.local.stack import StackConfig, StackThread
from tests.support import calls, import_via_s3, reset_calls, signed_up

REGIES = 10
PER_REGIE = 200
REQUESTS = 30
ACCOUNTS = (1, 3, 10)  # régies linked to each bench account


def _rows_of(cid: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [{"kind": "collectivite", "collectivite_id": cid, "name": "Bench"}]
    rows += [
        {"kind": "regie", "collectivite_id": cid, "regie_id": f"R{r}", "name": f"Régie {r}", "payment_backend": "none"}
        for r in range(REGIES)
    ]
    for r in range(REGIES):
        for n in range(PER_REGIE):
            paid = n % 4 != 0  # a quarter still open, as after a few years of use
            rows.append(
                {
                    "kind": "invoice",
                    "collectivite_id": cid,
                    "regie_id": f"R{r}",
                    "reference": f"{cid}-{r}-{n:04d}",
                    "key": f"K{r}{n:04d}",
                    "debtor_id": "FAMILLE",
                    "debtor_name": "Famille Bench",
                    "issued_on": f"20{10 + n // 12:02d}-{n % 12 + 1:02d}-01",
                    "due_on": "2030-01-01",
                    "amount": "12.50",
                    "status": "paid" if paid else "open",
                    **({"paid_at": "2026-01-01T00:00:00Z"} if paid else {}),
                }
            )
    return rows


def main() -> list[Row]:
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)  # noqa: SIM115 - kept for reading
    runner = StackThread(StackConfig(log=log, load_demo=False))
    stack = runner.start()
    try:
        cid = f"B{uuid.uuid4().hex[:8].upper()}"
        text = "".join(json.dumps(x) + "\n" for x in _rows_of(cid))
        report = import_via_s3(stack, "bench.jsonl", text, timeout=900)
        assert report["counts"]["rejected"] == 0, report
        parents = {}
        for n in ACCOUNTS:
            parent = signed_up(stack.url)
            for r in range(n):
                body = {"collectivite_id": cid, "reference": f"{cid}-{r}-0000", "key": f"K{r}0000"}
                assert parent.post("/api/claims", json=body).status_code == 201
            parents[n] = parent
        health = httpx.Client(base_url=stack.url)
        targets: dict[str, tuple[httpx.Client, Callable[[], httpx.Response]]] = {}
        for n in ACCOUNTS:
            parent = parents[n]
            targets[f"GET /api/invoices, {n} régie(s), {n * PER_REGIE // 4} open"] = (
                parent,
                lambda parent=parent: parent.get("/api/invoices"),  # type: ignore[misc]
            )
        targets[f"GET /api/invoices?view=paid, {REGIES} régies, first page of 50"] = (
            parents[REGIES],
            lambda: parents[REGIES].get("/api/invoices?view=paid"),
        )
        targets["GET /api/health"] = (health, lambda: health.get("/api/health"))
        per_request: dict[str, dict[str, int]] = {}
        for name, (client, call) in targets.items():
            for _ in range(8):
                assert call().status_code == 200  # warm every worker that will serve
            reset_calls(client)
            call()
            per_request[name] = calls(client)
        samples: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(REQUESTS):  # interleaved: noise of the shared machine hits all alike
            for name, (_, call) in targets.items():
                t = time.perf_counter()
                call()
                samples[name].append((time.perf_counter() - t) * 1000)
        health_median = statistics.median(samples["GET /api/health"])
        rows = []
        for name, values in samples.items():
            counted = ", ".join(f"{k} {v}" for k, v in sorted(per_request[name].items()))
            median = statistics.median(values)
            print(f"  {name}: {median:.1f} ms ({counted})", file=sys.stderr, flush=True)
            if name == "GET /api/health":
                continue
            rows.append(
                Row(
                    "listing",
                    f"{name} (DynamoDB calls: {counted}), median of {REQUESTS}",
                    f"{median:.1f} ms",
                    f"GET /api/health: {health_median:.1f} ms",
                    f"× {median / health_median:.2f}",
                )
            )
        return rows
    finally:
        runner.stop()

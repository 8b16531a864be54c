"""Listing for an account with 10 régies × 200 invoices through the local gateway, side by side with health."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid

import httpx

from infra.local.stack import StackConfig, StackThread
from tests.support import calls, import_via_s3, reset_calls, signed_up

REGIES = 10
PER_REGIE = 200
REQUESTS = 40


def _p99(samples: list[float]) -> float:
    return sorted(samples)[int(0.99 * (len(samples) - 1))]


def main() -> None:
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)  # noqa: SIM115 - kept for reading
    runner = StackThread(StackConfig(log=log, load_demo=False))
    stack = runner.start()
    try:
        cid = f"B{uuid.uuid4().hex[:8].upper()}"
        rows = [{"kind": "collectivite", "collectivite_id": cid, "name": "Bench"}]
        rows += [
            {
                "kind": "regie",
                "collectivite_id": cid,
                "regie_id": f"R{r}",
                "name": f"Régie {r}",
                "payment_backend": "none",
            }
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
        report = import_via_s3(stack, "bench.jsonl", "".join(json.dumps(x) + "\n" for x in rows), timeout=600)
        assert report["counts"]["rejected"] == 0, report
        parent = signed_up(stack.url)
        for r in range(REGIES):
            body = {"collectivite_id": cid, "reference": f"{cid}-{r}-0000", "key": f"K{r}0000"}
            assert parent.post("/api/claims", json=body).status_code == 201
        health = httpx.Client(base_url=stack.url)
        targets = {
            "GET /api/invoices (current: 500 open)": lambda: parent.get("/api/invoices"),
            "GET /api/invoices?view=paid (first page of 50)": lambda: parent.get("/api/invoices?view=paid"),
            "GET /api/health": lambda: health.get("/api/health"),
        }
        per_request: dict[str, dict[str, int]] = {}
        for name, call in targets.items():
            for _ in range(10):
                assert call().status_code == 200  # warm every worker that will serve
            reset_calls(parent)
            call()
            per_request[name] = calls(parent)
        samples: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(REQUESTS):  # interleaved: noise of the shared machine hits all alike
            for name, call in targets.items():
                t = time.perf_counter()
                call()
                samples[name].append((time.perf_counter() - t) * 1000)
        health_median = statistics.median(samples["GET /api/health"])
        # What moto alone spends on one GSI Query of this table: it walks every item of the table for an
        # index query (DynamoDB reads only the partition), so this, not our code, is most of the latency.
        ddb = stack.aws.client("dynamodb")
        table = stack.resource_name("Table")
        gsi_times = []
        for r in range(REGIES):
            t = time.perf_counter()
            ddb.query(
                TableName=table,
                IndexName="GSI1",
                KeyConditionExpression="GSI1PK = :pk AND begins_with(GSI1SK, :o)",
                ExpressionAttributeValues={":pk": {"S": f"DEBTOR#{cid}#R{r}#FAMILLE"}, ":o": {"S": "O#"}},
            )
            gsi_times.append((time.perf_counter() - t) * 1000)
        items = ddb.describe_table(TableName=table)["Table"].get("ItemCount", "?")
        print(f"{REGIES} régies × {PER_REGIE} invoices, {REQUESTS} requests each, interleaved, through the gateway")
        print("| request | median (ms) | p99 (ms) | × health (median) | DynamoDB calls per request |")
        print("|---|---:|---:|---:|---|")
        for name, values in samples.items():
            counted = ", ".join(f"{k} {v}" for k, v in sorted(per_request[name].items()))
            median = statistics.median(values)
            print(f"| {name} | {median:.1f} | {_p99(values):.1f} | {median / health_median:.2f} | {counted} |")
        print(
            f"moto alone, one GSI Query of this table ({items} items): median {statistics.median(gsi_times):.0f} ms"
            f" — × {REGIES} régies per listing"
        )
    finally:
        runner.stop()

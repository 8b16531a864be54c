"""Payments: DynamoDB calls per initiation and per applied notification (through the gateway and the PayFiP
emulator), and the notification handler's own time with the provider call excluded, next to the health handler."""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.bench_accounts import _Context, _handler_module, _p, _time
from infra.local.aws import local_table
from infra.local.stack import ROOT, StackConfig, StackThread
from tests.support import calls, import_via_s3, reset_calls, signed_up

REQUESTS = 60
INVOICES = 5


def _counts(text: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(text.items()))


def calls_through_the_gateway() -> None:
    import json

    from espace_famille.model import invoice_id

    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)  # noqa: SIM115 - kept for reading
    runner = StackThread(StackConfig(log=log, load_demo=False))
    stack = runner.start()
    try:
        cid = f"B{uuid.uuid4().hex[:8].upper()}"
        rows: list[dict[str, Any]] = [
            {"kind": "collectivite", "collectivite_id": cid, "name": "Bench"},
            {
                "kind": "regie",
                "collectivite_id": cid,
                "regie_id": "CANTINE",
                "name": "Cantine",
                "payment_backend": "payfip",
                "payment_options": {"numcli": "000001"},
            },
        ]
        refs = [f"{cid}-{n}" for n in range(INVOICES)]
        rows += [
            {
                "kind": "invoice",
                "collectivite_id": cid,
                "regie_id": "CANTINE",
                "reference": ref,
                "key": "K1",
                "debtor_id": "F",
                "debtor_name": "Famille",
                "issued_on": "2026-09-01",
                "due_on": "2030-01-01",
                "amount": "12.50",
                "status": "open",
            }
            for ref in refs
        ]
        report = import_via_s3(stack, "bench.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        assert report["counts"]["rejected"] == 0, report
        parent = signed_up(stack.url)
        assert parent.post("/api/claims", json={"collectivite_id": cid, "reference": refs[0], "key": "K1"}).is_success
        emulator = stack.payfip
        assert emulator is not None
        emulator.configure(notifications="drop")
        reset_calls(parent)
        started = parent.post(
            "/api/payments",
            json={"invoice_ids": [invoice_id(cid, r) for r in refs], "email": "bench@example.org"},
        )
        assert started.status_code == 201, started.text
        initiation = calls(parent)
        idop = started.json()["redirect_url"].rsplit("idop=", 1)[1]
        emulator.settle(idop, "P", notify=False)
        reset_calls(parent)
        assert httpx.post(stack.url + "/webhooks/payfip", data={"idop": idop}).json()["payment_status"] == "paid"
        notification = calls(parent)
        reset_calls(parent)
        assert httpx.post(stack.url + "/webhooks/payfip", data={"idop": idop}).status_code == 200
        repeated = calls(parent)
    finally:
        runner.stop()
    print(f"DynamoDB calls per request, {INVOICES} invoices in the payment, through the gateway and the emulator:")
    print("| request | calls | goal |")
    print("|---|---|---|")
    print(
        f"| POST /api/payments (with the authorizer's session read) | {_counts(initiation)} | ≤ 3 reads + 1 transaction |"
    )
    print(f"| POST /webhooks/payfip, result applied | {_counts(notification)} | ≤ 3 reads + 1 transaction |")
    print(f"| POST /webhooks/payfip, already applied | {_counts(repeated)} | |")


class _PaidProvider:
    """A provider that answers at once: the handler's own time, without PayFiP's round trip."""

    def __init__(self) -> None:
        self.asked: dict[str, dict[str, Any]] = {}

    def create_payment(self, **kw: Any) -> str:
        idop = str(uuid.uuid4())
        self.asked[idop] = kw
        return idop

    def page_url(self, idop: str) -> str:
        return f"https://payfip.example/?idop={idop}"

    def result(self, idop: str) -> Any:
        from espace_famille.payfip import ProviderResult

        kw = self.asked[idop]
        return ProviderResult("paid", "P", kw["amount_cents"], kw["refdet"], kw["numcli"], datetime.now(UTC), "1")


def handler_time() -> None:
    with local_table(ROOT / "template.yaml", stack_name=f"bench{uuid.uuid4().hex[:6]}") as aws:
        # The receipt is queued after each paid result, as in Lambda: a real queue on the local server.
        os.environ["MAIL_QUEUE_URL"] = aws.client("sqs").create_queue(QueueName="bench-mail")["QueueUrl"]
        os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "Bench"
        # Under `make bench` an earlier benchmark created the shared Metrics before this environment was set.
        from espace_famille.observability import metrics

        metrics.namespace = "Bench"
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        from espace_famille import config

        config.settings.cache_clear()
        from espace_famille import payments
        from espace_famille.dal import catalog, links
        from espace_famille.dal.links import Link
        from espace_famille.model import Collectivite, Invoice, Regie, key_digest, link_id
        from espace_famille.model import invoice_id as make_id

        provider = _PaidProvider()
        payments.default_provider = lambda: provider  # type: ignore[assignment]
        webhook = _handler_module("payfip_webhook", "payfip_webhook_app")
        health = _handler_module("health", "health_app")
        cid = f"B{uuid.uuid4().hex[:8].upper()}"
        catalog.put_all([Collectivite(cid, "Bench"), Regie(cid, "CANTINE", "Cantine", "payfip", {"numcli": "000001"})])
        account = uuid.uuid4().hex
        idops = []
        n = REQUESTS + 10
        invoices = [
            Invoice(cid, "CANTINE", f"{cid}-{i}", key_digest(make_id(cid, f"{cid}-{i}"), "K"), "F", "Famille",
                    "2026-09-01", "2030-01-01", 1250, "open")
            for i in range(n)
        ]  # fmt: skip
        catalog.put_all(invoices)
        links.create(
            Link(account, link_id(cid, "CANTINE", "F"), cid, "CANTINE", "F", "Famille", "2026-01-01T00:00:00Z"),
            invoices[0].invoice_id,
        )
        for inv in invoices:
            now = datetime.now(UTC)
            created = payments.initiate(account, [inv.invoice_id], "bench@example.org", "http://x", provider, now)
            idops.append(created.redirect_url.rsplit("idop=", 1)[1])

        def event(method: str, path: str, body: str = "", ctype: str = "") -> dict[str, Any]:
            return {
                "version": "2.0",
                "routeKey": f"{method} {path}",
                "rawPath": path,
                "rawQueryString": "",
                "headers": {"content-type": ctype} if ctype else {},
                "requestContext": {
                    "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
                    "requestId": "b",
                    "stage": "$default",
                },
                "body": body,
                "isBase64Encoded": False,
            }

        ctx = _Context()
        health_event = event("GET", "/api/health")
        pending = iter(idops)

        def notify() -> None:
            answer = webhook.handler(
                event("POST", "/webhooks/payfip", f"idop={next(pending)}", "application/x-www-form-urlencoded"), ctx
            )
            assert answer["statusCode"] == 200, answer

        for _ in range(10):  # warm both
            notify()
            health.handler(health_event, ctx)
        # What moto alone spends on a transaction of three items (the notification writes the payment, its
        # invoice and the receipt), for comparison: the local server, not our code, is most of the time.
        ddb, table = aws.client("dynamodb"), os.environ["TABLE_NAME"]

        def bare_transaction() -> None:
            tag = uuid.uuid4().hex
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": {"PK": {"S": f"BENCH#{tag}#{k}"}, "SK": {"S": "X"}}}}
                    for k in range(3)
                ]
            )

        notify_times, health_times, bare_times = [], [], []
        for _ in range(REQUESTS):  # interleaved, so that noise hits all alike
            notify_times += _time(notify, 1)
            health_times += _time(lambda: health.handler(health_event, ctx), 1)
            bare_times += _time(bare_transaction, 1)
    nm, hm = statistics.median(notify_times), statistics.median(health_times)
    print(f"warm handler time, {REQUESTS} notifications each applying a paid result, interleaved with health;")
    print("the provider answers in-process (PayFiP's round trip excluded), moto server on loopback:")
    print("| handler | median (ms) | p99 (ms) |")
    print("|---|---:|---:|")
    print(f"| PayfipWebhookFunction, result applied (2 GetItem, 1 BatchGetItem, 1 transaction) | {nm:.2f} | "
          f"{_p(notify_times, 0.99):.2f} |")  # fmt: skip
    print(f"| HealthFunction (1 GetItem) | {hm:.2f} | {_p(health_times, 0.99):.2f} |")
    print(f"| bare TransactWriteItems of 3 Puts on the same server (no handler) | {statistics.median(bare_times):.2f} | "
          f"{_p(bare_times, 0.99):.2f} |")  # fmt: skip
    print(f"notification / health = {nm / hm:.2f}")


def main() -> None:
    calls_through_the_gateway()
    handler_time()

"""The whole local stack: moto, resources from the template, function workers, gateway, events, demo data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import uvicorn

from espace_famille.importer.s3 import report_key
from infra.cfn import LOCAL_ACCOUNT_ID, LOCAL_REGION, S3Trigger, ScheduleTrigger, SqsTrigger, Template, load_template
from infra.local.aws import LocalAws
from infra.local.gateway import Gateway, LocalHandler
from infra.local.net import open_connections, tcp_listener
from infra.local.payfip import EmulatorServer, PayfipHandle
from infra.local.workers import FunctionPool, InvocationError, lambda_environment

ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = ROOT / "infra" / "demo"
PARIS = ZoneInfo("Europe/Paris")


@dataclass
class StackConfig:
    template_path: Path = ROOT / "template.yaml"
    port: int = 0  # 0: an ephemeral port
    payfip_port: int = 0  # the PayFiP emulator's port; 0: an ephemeral one
    host: str = "127.0.0.1"
    stack_name: str = "local"
    max_workers: int = 4
    load_demo: bool = True
    run_schedules: bool = False
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    # Queue attributes that differ from the template's, by logical id (tests: retries within seconds).
    queue_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    log: IO[str] | None = None  # where function logs and the access log go; None: stderr


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.aws = LocalAws(log=config.log)
        self.template: Template | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.gateway: Gateway | None = None
        self._server: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._s3_changed: asyncio.Event | None = None
        self._s3_writes = -1
        self._s3_seen: dict[tuple[str, str], str] = {}
        self._invocations: set[asyncio.Task[Any]] = set()
        self._socket: socket.socket | None = None
        self.url = ""
        self.payfip_server = EmulatorServer(config.host, config.payfip_port)
        self.payfip: PayfipHandle | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.aws.start)
        self._socket = tcp_listener(self.config.host, self.config.port)
        port = self._socket.getsockname()[1]
        self.url = f"http://{self.config.host}:{port}"
        await self.payfip_server.start()
        self.payfip = PayfipHandle(self.payfip_server.url)
        overrides = {
            "SiteUrl": self.url,
            "PayfipServiceUrl": self.payfip_server.service_url,
            "PayfipPageUrl": self.payfip_server.page_url,
            **self.config.parameter_overrides,
        }
        self.template = tpl = load_template(self.config.template_path, overrides, self.config.stack_name)
        self.aws.create_resources(tpl, self.config.queue_attributes)
        for logical_id, function in tpl.functions.items():
            env = lambda_environment(function, self.aws.endpoint_url, self.config.extra_env)
            self.pools[logical_id] = FunctionPool(function, env, self.config.max_workers, self.config.log)
        self.gateway = Gateway(tpl, self.pools, self._local_routes(), access_log=self.config.log or sys.stderr)
        self.gateway.ready = not self.config.load_demo
        uv_config = uvicorn.Config(self.gateway, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(uv_config)
        self._tasks.append(asyncio.create_task(self._server.serve(sockets=[self._socket])))
        while not self._server.started:
            await asyncio.sleep(0.02)
        self._s3_changed = asyncio.Event()
        await self._scan_s3(fire=False)
        self._tasks.append(asyncio.create_task(self._watch_s3()))
        for trigger in tpl.sqs_triggers:
            pollers = max(1, min(trigger.max_concurrency, self.config.max_workers))
            self._tasks.extend(asyncio.create_task(self._poll(trigger)) for _ in range(pollers))
        if self.config.run_schedules:
            for schedule in tpl.schedules:
                period = _rate_seconds(schedule.expression)
                if schedule.enabled and period:
                    self._tasks.append(asyncio.create_task(self._every(schedule, period)))
        if self.config.load_demo:
            await self.load_demo()
            self.gateway.ready = True

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        for task in self._invocations:
            task.cancel()
        for task in self._tasks:
            if task is not self._tasks[0]:
                task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 10)
        for pool in self.pools.values():
            await pool.close()
        await self.payfip_server.stop()
        self.aws.stop()

    # -- details for tests and tools ------------------------------------------------------------
    def open_connections(self) -> list[Any]:
        """Sockets of the connections the gateway has accepted and not yet closed."""
        return open_connections(self._server) if self._server is not None else []

    def resource_name(self, logical_id: str) -> str:
        assert self.template is not None
        return self.template.physical_name(logical_id)

    def info(self) -> dict[str, Any]:
        assert self.template is not None
        return {
            "url": self.url,
            "payfip_url": self.payfip_server.url,
            "payfip_service_url": self.payfip_server.service_url,
            "payfip_mode": self.template.parameters.get("PayfipMode", "T"),
            "aws_endpoint_url": self.aws.endpoint_url,
            "region": LOCAL_REGION,
            "tables": {k: self.resource_name(k) for k in self.template.resources_of_type("AWS::DynamoDB::Table")},
            "buckets": {k: self.resource_name(k) for k in self.template.resources_of_type("AWS::S3::Bucket")},
            "queues": {k: self.template.queue_url(k) for k in self.template.resources_of_type("AWS::SQS::Queue")},
        }

    # -- S3 events -----------------------------------------------------------------------------
    async def _watch_s3(self) -> None:
        """Fires the template's S3 events: lists the buckets again whenever the AWS server saw a write."""
        assert self._s3_changed is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._s3_changed.wait(), 0.2)
            self._s3_changed.clear()
            try:
                writes = await asyncio.to_thread(self.aws.s3_writes)
                if writes != self._s3_writes:
                    self._s3_writes = writes
                    await self._scan_s3(fire=True)
            except Exception as exc:  # the watcher must outlive a passing hiccup of the AWS server
                self._log(f"[s3] scan failed: {exc!r}")

    async def _scan_s3(self, fire: bool) -> None:
        assert self.template is not None
        s3 = self.aws.client("s3")
        for trigger in self.template.s3_triggers:
            listing = await asyncio.to_thread(_list_objects, s3, trigger.bucket, trigger.prefix)
            for obj in listing:
                key = obj["Key"]
                if trigger.suffix and not key.endswith(trigger.suffix):
                    continue
                marker = f"{obj['ETag']}:{obj['LastModified'].isoformat()}"
                if self._s3_seen.get((trigger.bucket, key)) == marker:
                    continue
                self._s3_seen[(trigger.bucket, key)] = marker
                if fire:
                    self._fire(trigger.function, s3_event(trigger, key, obj))

    def _fire(self, function: str, event: dict[str, Any]) -> None:
        """An asynchronous invocation, as S3 and EventBridge make them.

        Lambda tries an event 1 + MaximumRetryAttempts times (here without its minutes of back-off), then
        sends a record of it to the function's on-failure destination, if it has one.
        """

        async def run() -> None:
            pool = self.pools[function]
            attempts = 1 + pool.function.max_retries
            for attempt in range(1, attempts + 1):
                try:
                    await pool.invoke(event)
                    return
                except InvocationError as exc:
                    self._log(f"[event] {function} failed (attempt {attempt}/{attempts}): {exc}\n{exc.trace}")
                    error = exc
            if pool.function.on_failure_queue is not None:
                await asyncio.to_thread(self._send_failed_event, function, event, error, attempts)

        task = asyncio.create_task(run())
        self._invocations.add(task)
        task.add_done_callback(self._invocations.discard)

    def _send_failed_event(self, function: str, event: dict[str, Any], error: InvocationError, attempts: int) -> None:
        """The record Lambda sends to an on-failure destination (its documented shape)."""
        assert self.template is not None
        queue = self.pools[function].function.on_failure_queue
        assert queue is not None
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.template.get_att(function, "Arn") + ":$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": error.kind, "errorMessage": str(error)},
        }
        try:
            self.aws.client("sqs").send_message(QueueUrl=self.template.queue_url(queue), MessageBody=json.dumps(record))
        except Exception as exc:  # as Lambda, a destination that cannot take the record loses it
            self._log(f"[event] {function}: the failed event could not be sent to {queue}: {exc!r}")

    # -- SQS event source mappings -------------------------------------------------------------
    async def _poll(self, trigger: SqsTrigger) -> None:
        """One poller of an SQS event source mapping, as Lambda runs them.

        Receives a batch, invokes the function with it, deletes what succeeded. Failed messages are left
        alone: the queue makes them visible again after its visibility timeout, and moves them to the
        dead-letter queue once received maxReceiveCount times (both done by the local AWS server).
        """
        assert self.template is not None
        sqs = self.aws.client("sqs")
        url = self.template.queue_url(trigger.queue)
        arn = self.template.get_att(trigger.queue, "Arn")
        while True:
            try:
                received = await asyncio.to_thread(
                    sqs.receive_message,
                    QueueUrl=url,
                    MaxNumberOfMessages=min(trigger.batch_size, 10),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
                messages = received.get("Messages", [])
                if not messages:
                    continue
                try:
                    result = await self.pools[trigger.function].invoke(sqs_event(arn, messages))
                except InvocationError as exc:
                    self._log(f"[sqs] {trigger.function} failed, the batch comes back: {exc}\n{exc.trace}")
                    continue
                failed = failed_message_ids(result, messages, trigger.report_failures)
                done = [m for m in messages if m["MessageId"] not in failed]
                if done:
                    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
                    await asyncio.to_thread(sqs.delete_message_batch, QueueUrl=url, Entries=entries)
            except Exception as exc:  # the poller must outlive a passing hiccup of the AWS server
                self._log(f"[sqs] polling {trigger.queue} failed: {exc!r}")
                await asyncio.sleep(1)

    async def _every(self, schedule: ScheduleTrigger, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            self._fire(schedule.function, scheduled_event(schedule))

    def _log(self, text: str) -> None:
        out = self.config.log or sys.stderr
        out.write(text + "\n")
        out.flush()

    # -- local-only routes ------------------------------------------------------------------------
    def _local_routes(self) -> dict[tuple[str, str], LocalHandler]:
        async def mails(method: str, path: str, body: bytes) -> tuple[int, Any]:
            return 200, await asyncio.to_thread(self.aws.mails)

        async def calls(method: str, path: str, body: bytes) -> tuple[int, Any]:
            if method == "DELETE":
                await asyncio.to_thread(self.aws.reset_counts)
            return 200, await asyncio.to_thread(self.aws.counts)

        async def calls_in_order(method: str, path: str, body: bytes) -> tuple[int, Any]:
            if method == "DELETE":
                await asyncio.to_thread(self.aws.reset_counts)
            return 200, await asyncio.to_thread(self.aws.calls_in_order)

        async def stack_info(method: str, path: str, body: bytes) -> tuple[int, Any]:
            return 200, self.info()

        async def schedule(method: str, path: str, body: bytes) -> tuple[int, Any]:
            assert self.template is not None
            name = path.rsplit("/", 1)[1]
            found = [s for s in self.template.schedules if name in (s.function, s.name)]
            if not found:
                return 404, {"message": f"no scheduled function {name}"}
            try:
                result = await self.pools[found[0].function].invoke(scheduled_event(found[0]))
            except InvocationError as exc:
                return 500, {"message": str(exc)}
            return 200, {"function": found[0].function, "result": result}

        async def sends(method: str, path: str, body: bytes) -> tuple[int, Any]:
            return 200, await asyncio.to_thread(self.aws.sqs_sends, method == "DELETE")

        return {
            ("GET", "/__local__/mails"): mails,
            ("GET", "/__local__/dynamodb-calls"): calls,
            ("DELETE", "/__local__/dynamodb-calls"): calls,
            ("GET", "/__local__/aws-calls"): calls_in_order,
            ("DELETE", "/__local__/aws-calls"): calls_in_order,
            ("GET", "/__local__/stack"): stack_info,
            ("POST", "/__local__/schedules/"): schedule,
            ("GET", "/__local__/sqs-sends"): sends,
            ("DELETE", "/__local__/sqs-sends"): sends,
        }

    # -- demo data ---------------------------------------------------------------------------------
    async def load_demo(self, today: date | None = None, timeout: float = 60.0) -> list[str]:
        """Puts the demo files under imports/ and waits for the importer's reports, as an operator would."""
        assert self.template is not None
        if not self.template.s3_triggers:
            return []
        trigger = self.template.s3_triggers[0]
        today = today or datetime.now(PARIS).date()
        s3 = self.aws.client("s3")
        batch = uuid.uuid4().hex[:8]
        keys = []
        for path in sorted(DEMO_DIR.glob("*.jsonl")) + sorted(DEMO_DIR.glob("*.csv")):
            text = render_demo(path.read_text(encoding="utf-8"), today)
            key = f"{trigger.prefix}demo-{batch}/{path.name}"
            # One file at a time: régies before the invoices that name them.
            await asyncio.to_thread(s3.put_object, Bucket=trigger.bucket, Key=key, Body=text.encode("utf-8"))
            keys.append(key)
            self._s3_changed.set()  # type: ignore[union-attr]
            report = await self._wait_report(s3, trigger.bucket, report_key(key), timeout)
            if report.get("status") != "done" or report.get("counts", {}).get("rejected"):
                raise RuntimeError(f"demo file {path.name} was not imported cleanly: {json.dumps(report)[:2000]}")
        return keys

    async def _wait_report(self, s3: Any, bucket: str, key: str, timeout: float) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                obj = await asyncio.to_thread(s3.get_object, Bucket=bucket, Key=key)
                data: dict[str, Any] = json.loads(obj["Body"].read())
                return data
            except s3.exceptions.NoSuchKey:
                await asyncio.sleep(0.1)
        raise TimeoutError(f"no import report {key} after {timeout}s")


def render_demo(text: str, today: date) -> str:
    """The demo files name dates relative to the day the stack starts as {D+20}."""

    def repl(m: re.Match[str]) -> str:
        return (today + timedelta(days=int(m.group(1) or 0))).isoformat()

    return re.sub(r"\{D([+-]\d+)?\}", repl, text)


def _list_objects(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(page.get("Contents", []))
    return out


def s3_event(trigger: S3Trigger, key: str, obj: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": LOCAL_REGION,
                "eventTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "LOCAL"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper()},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": trigger.function,
                    "bucket": {
                        "name": trigger.bucket,
                        "ownerIdentity": {"principalId": "LOCAL"},
                        "arn": f"arn:aws:s3:::{trigger.bucket}",
                    },
                    "object": {
                        # S3 notifications carry the key URL-encoded, spaces as '+'.
                        "key": quote_plus(key, safe="/"),
                        "size": int(obj.get("Size", 0)),
                        "eTag": str(obj.get("ETag", "")).strip('"'),
                        "sequencer": f"{int(now.timestamp() * 1e6):016X}",
                    },
                },
            }
        ]
    }


def sqs_event(queue_arn: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping sends, from ReceiveMessage's answer."""
    records = []
    for m in messages:
        attributes = {
            k: v
            for k, v in (m.get("Attributes") or {}).items()
            if k in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
        }
        message_attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            for name, value in (m.get("MessageAttributes") or {}).items()
        }
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": LOCAL_REGION,
            }
        )
    return {"Records": records}


def failed_message_ids(result: Any, messages: list[dict[str, Any]], report_failures: bool) -> set[str]:
    """Which messages of a batch failed, read from the function's answer as Lambda reads it.

    Without ReportBatchItemFailures, an answer (any answer) means the whole batch succeeded. With it, the
    answer lists the failed message ids; an answer Lambda cannot read, or an id not in the batch, fails the
    whole batch.
    """
    ids = {m["MessageId"] for m in messages}
    if not report_failures or result is None:
        return set()
    if not isinstance(result, dict):
        return ids
    items = result.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return ids
    failed: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in ids:
            return ids
        failed.add(identifier)
    return failed


def scheduled_event(schedule: ScheduleTrigger) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:rule/{schedule.function}-{schedule.name}"],
        "detail": {},
    }


def _rate_seconds(expression: str) -> float | None:
    m = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not m:
        return None  # cron() schedules run on demand only, through /__local__/schedules/<function>
    unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
    return int(m.group(1)) * unit


class StackThread:
    """Runs a LocalStack on its own event loop in a background thread (tests, benchmarks, tools)."""

    def __init__(self, config: StackConfig) -> None:
        self.stack = LocalStack(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="local-stack", daemon=True)

    def __enter__(self) -> LocalStack:
        self.start()
        return self.stack

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.stack.start(), self._loop).result(180)
        return self.stack

    def run(self, coro: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.stack.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

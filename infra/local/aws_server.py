"""The local AWS service: moto's server behind a thin WSGI layer that counts and records for tests.

It counts DynamoDB calls by operation (so tests assert the cost of a request and that none is a Scan),
keeps the ordered list of AWS calls (so tests assert that two paths make the same calls, in the same order),
stamps the mails SES accepts (for /__local__/mails) and counts S3 writes (so the stack knows when to look
for new objects to fire S3 events). It also notes which IAM action each function's call needs, on which
resource: each function signs with its own access key id, its logical id (infra/local/workers.py), so the
least-privilege test can compare what functions do with what template.yaml grants them. None of this is
visible to the production code, which only sees AWS.

It also runs DynamoDB calls one at a time. moto's DynamoDB backend is not thread-safe: a TransactWriteItems
copies the tables' dicts while other requests' threads change them ("dictionary changed size during
iteration", a 500), and a Query sorts a partition that a Put may grow meanwhile. DynamoDB itself is
serialisable per item, so one lock around moto's DynamoDB changes nothing a test can observe except that
local races then show the code's behaviour, not moto's. Other services are left concurrent: an SQS
long poll must not hold up the requests that would end it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import re
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from infra.cfn import LOCAL_ACCOUNT_ID, LOCAL_REGION

_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables"}
_CALL_LOG_MAX = 10_000
# REST-style operations (no X-Amz-Target) that tests name.
_REST_OPERATIONS = {("ses", "POST", "/v2/email/outbound-emails"): "SendEmail"}
_SERVICE_RE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_APP_RE = re.compile(r"(?:^|\s)app/(\S+)")


def call_of(environ: dict[str, Any]) -> dict[str, str]:
    """The service, operation and caller of one AWS request, as far as its headers tell.

    The caller is the function's logical id, which the local stack puts in each function's User-Agent
    (AWS_SDK_UA_APP_ID); "" for anything else (tests, the stack itself).
    """
    found = _SERVICE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = found.group(1) if found else ""
    app = _APP_RE.search(environ.get("HTTP_USER_AGENT", ""))
    caller = app.group(1) if app else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if target:
        operation = target.rsplit(".", 1)[-1]
    elif "Action" in query:
        operation = query["Action"][0]
    else:
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        operation = _REST_OPERATIONS.get((service, method, path), f"{method} {path}")
    return {"service": service, "operation": operation, "caller": caller}


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dynamodb_calls: Counter[str] = Counter()
        self.aws_calls: list[dict[str, str]] = []
        # Client request tokens of the transactions that succeeded, with when and what was answered.
        self.transaction_tokens: dict[str, tuple[float, bytes]] = {}
        self.s3_writes = 0
        # Messages sent to SQS queues: what requests queued (the local stack's polling is not counted).
        self.sqs_sends: Counter[str] = Counter()
        self.mail_times: dict[str, str] = {}
        # Bumped by every DynamoDB call that may change an item: what the query index below is valid for.
        self.dynamodb_epoch = 0
        # (function, IAM action, resource ARN) of every call a function made; appended to a file of
        # LOCAL_IAM_RECORD_DIR when set, so that a test session gathers them across all its stacks.
        self.iam_calls: set[tuple[str, str, str]] = set()
        record_dir = os.environ.get("LOCAL_IAM_RECORD_DIR")
        self.iam_file = Path(record_dir) / f"aws-{os.getpid()}.jsonl" if record_dir else None
        # Held while moto serves a DynamoDB call (see the module's docstring).
        self.dynamodb_lock = threading.Lock()

    def note_iam(self, function: str, calls: list[tuple[str, str]]) -> None:
        with self.lock:
            new = [(function, action, arn) for action, arn in calls if (function, action, arn) not in self.iam_calls]
            self.iam_calls.update(new)
            if new and self.iam_file is not None:
                with self.iam_file.open("a", encoding="utf-8") as fh:
                    fh.writelines(json.dumps({"function": f, "action": a, "resource": r}) + "\n" for f, a, r in new)

    def stamp_mails(self) -> None:
        from moto.ses.models import ses_backends

        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self.lock:
            for message in list(ses_backends[LOCAL_ACCOUNT_ID][LOCAL_REGION].sent_messages):
                self.mail_times.setdefault(message.id, now)

    def mails(self) -> list[dict[str, Any]]:
        from moto.ses.models import ses_backends

        self.stamp_mails()
        out = []
        for message in list(ses_backends[LOCAL_ACCOUNT_ID][LOCAL_REGION].sent_messages):
            destinations = getattr(message, "destinations", None) or {}
            to = list(destinations.get("ToAddresses", [])) if isinstance(destinations, dict) else list(destinations)
            out.append(
                {
                    "to": to[0] if len(to) == 1 else to,
                    "subject": getattr(message, "subject", ""),
                    "text": getattr(message, "body", getattr(message, "raw_data", "")),
                    "sent_at": self.mail_times.get(message.id),
                }
            )
        return out


def recording_app(app: Any, rec: Recorder) -> Callable[..., Iterable[bytes]]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__local__/"):
            return _local(environ, start_response, rec)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        call = call_of(environ)
        with rec.lock:
            if len(rec.aws_calls) < _CALL_LOG_MAX:
                rec.aws_calls.append(call)
        if target.startswith("DynamoDB_"):
            operation = target.split(".", 1)[1]
            with rec.lock:
                rec.dynamodb_calls[operation] += 1
                if operation not in _READS:
                    rec.dynamodb_epoch += 1
        elif target in ("AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch"):
            with rec.lock:
                rec.sqs_sends[target.split(".", 1)[1]] += 1
        auth = environ.get("HTTP_AUTHORIZATION", "")
        signer = _CREDENTIAL.search(auth)
        if signer and signer.group(1) not in _UNATTRIBUTED:
            with contextlib.suppress(Exception):  # recording must never break the call itself
                rec.note_iam(signer.group(1), iam_calls(environ, signer.group(2)))
        is_s3_write = "/s3/aws4_request" in auth and environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE")
        if target.endswith(".TransactWriteItems"):
            with rec.dynamodb_lock:
                result = _idempotent_transaction(app, environ, start_response, rec)
        elif target.startswith("DynamoDB_"):
            with rec.dynamodb_lock:
                result = app(environ, start_response)
        else:
            result = app(environ, start_response)
        if target.startswith("DynamoDB_") and target.split(".", 1)[1] not in _READS:
            # Again once the write is applied: a query index built while it ran is stale.
            with rec.lock:
                rec.dynamodb_epoch += 1
        if "/ses/aws4_request" in auth:
            rec.stamp_mails()
        if is_s3_write:
            with rec.lock:
                rec.s3_writes += 1
        return result

    return wsgi


def _idempotent_transaction(
    app: Any, environ: dict[str, Any], start_response: Callable[..., Any], rec: Recorder
) -> Iterable[bytes]:
    """TransactWriteItems with DynamoDB's client request token: a retried success answers success again.

    botocore fills `ClientRequestToken` once per call and resends it when it retries (after a read timeout,
    say). DynamoDB then answers the first outcome again instead of re-running the transaction; moto re-runs
    it, and its conditions, now false, cancel it: a sign-up whose first attempt went through would read as
    "address taken". Here, as in DynamoDB, a token that succeeded within 10 minutes answers success again.
    """
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        token = json.loads(raw or b"{}").get("ClientRequestToken")
    except ValueError:
        token = None
    now = time.monotonic()
    with rec.lock:
        for old in [k for k, (at, _) in rec.transaction_tokens.items() if now - at > 600]:
            del rec.transaction_tokens[old]
        replay = rec.transaction_tokens.get(token) if token else None
    if replay is not None:
        body = replay[1]
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))])
        return [body]
    answered: list[str] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answered.append(status)
        return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

    body = b"".join(app(environ, capture))
    if token and answered and answered[0].startswith("200"):
        with rec.lock:
            rec.transaction_tokens[token] = (now, body)
    return [body]


def _local(environ: dict[str, Any], start_response: Callable[..., Any], rec: Recorder) -> Iterable[bytes]:
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    body: Any
    if path == "/__local__/dynamodb-calls":
        with rec.lock:
            if method == "DELETE":
                rec.dynamodb_calls.clear()
                rec.aws_calls.clear()
            body = dict(rec.dynamodb_calls)
    elif path == "/__local__/aws-calls":
        with rec.lock:
            if method == "DELETE":
                rec.dynamodb_calls.clear()
                rec.aws_calls.clear()
            body = list(rec.aws_calls)
    elif path == "/__local__/mails":
        body = rec.mails()
    elif path == "/__local__/s3-writes":
        with rec.lock:
            body = {"count": rec.s3_writes}
    elif path == "/__local__/iam-calls":
        with rec.lock:
            body = sorted(rec.iam_calls)
    elif path == "/__local__/sqs-sends":
        with rec.lock:
            if method == "DELETE":
                rec.sqs_sends.clear()
            body = dict(rec.sqs_sends)
    else:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"message":"Not Found"}']
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/aws4_request")
# The stack's own clients and the tests' (creating resources, polling queues, firing events).
_UNATTRIBUTED = {"local", "testing"}
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    """Reads the request body and puts it back for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    found = json.loads(raw) if raw else {}
    return found if isinstance(found, dict) else {}


def iam_calls(environ: dict[str, Any], service: str) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs that IAM would check for this request.

    A transaction is checked item by item (dynamodb:PutItem, …), as IAM does; a Query on an index against
    the index's ARN.
    """
    prefix = f"{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if service == "dynamodb" and "." in target:
        operation = target.split(".", 1)[1]
        body = _json_body(environ)

        def arn(table: str, index: str | None = None) -> str:
            return f"arn:aws:dynamodb:{prefix}:table/{table}" + (f"/index/{index}" if index else "")

        if operation in ("TransactWriteItems", "TransactGetItems"):
            out = []
            for item in body.get("TransactItems", []):
                for kind, spec in item.items():
                    out.append((f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}", arn(spec["TableName"])))
            return out
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", arn(name)) for name in body.get("RequestItems", {})]
        return [(f"dynamodb:{operation}", arn(body.get("TableName", ""), body.get("IndexName")))]
    if service == "sqs":
        if target:
            operation, body = target.split(".", 1)[1], _json_body(environ)
            url = str(body.get("QueueUrl", ""))
        else:  # the query protocol of older SDKs
            query = parse_qs(environ.get("QUERY_STRING", ""))
            operation, url = query.get("Action", [""])[0], query.get("QueueUrl", [""])[0]
        action = operation.removesuffix("Batch") if operation.endswith("MessageBatch") else operation
        return [(f"sqs:{action}", f"arn:aws:sqs:{prefix}:{url.rstrip('/').rsplit('/', 1)[-1]}")]
    if service == "ses":
        path = environ.get("PATH_INFO", "")
        if path.endswith("/outbound-emails"):
            sender = str(_json_body(environ).get("FromEmailAddress", ""))
            return [("ses:SendEmail", f"arn:aws:ses:{prefix}:identity/{sender}")]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        return [(f"ses:{query.get('Action', ['Unknown'])[0]}", f"arn:aws:ses:{prefix}:identity/*")]
    if service == "s3":
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")  # WSGI's latin-1
        bucket, _, key = unquote(path).lstrip("/").partition("/")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if not key:
            action = {"GET": "ListBucket", "HEAD": "ListBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}
            name = "DeleteObject" if method == "POST" and "delete" in query else action.get(method, method)
            return [(f"s3:{name}", f"arn:aws:s3:::{bucket}")]
        if "uploadId" in query or "uploads" in query:
            name = "PutObject"
        else:
            name = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject"}
            name = name.get(method, method)
        return [(f"s3:{name}", f"arn:aws:s3:::{bucket}/{key}")]
    return [(f"{service}:{target or environ.get('REQUEST_METHOD', '')}", "*")]


def index_moto_queries(rec: Recorder) -> None:
    """Makes moto's Query read only the partition asked for, as DynamoDB does.

    moto answers every Query by sorting every item of the table (O(n log n) per call, ~0.2 s for 2,000
    items), so a listing that DynamoDB serves from a few partitions would crawl locally, and tests would
    slow down as the table fills. Here Query sees only the items of its partition (base table) or those
    whose index hash key matches (GSI, grouped once per write epoch), in moto's own order; moto then
    applies all of its own logic to them, so answers are unchanged.
    """
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items
    local = threading.local()
    groups: dict[tuple[int, str, str], tuple[int, dict[Any, list[Any]]]] = {}

    def all_items(self: Any) -> Any:
        if getattr(local, "table", None) is self:
            return local.items
        return original_all_items(self)

    def index_group(table: Any, attr: str, value: Any) -> list[Any]:
        key = (id(table), table.name, attr)
        with rec.lock:
            epoch = rec.dynamodb_epoch
        cached = groups.get(key)
        if cached is None or cached[0] != epoch:
            grouped: dict[Any, list[Any]] = {}
            for item in original_all_items(table):
                found = item.attrs.get(attr)
                if found is not None:
                    grouped.setdefault(found, []).append(item)
            cached = (epoch, grouped)
            groups[key] = cached
        return cached[1].get(value, [])

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        hash_key = args[0] if args else kwargs.get("hash_key")
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
        conditions = kwargs.get("hash_key_conditions") or []
        if index_name:
            if len(conditions) != 1:
                return original_query(self, *args, **kwargs)
            candidates = index_group(self, conditions[0][0], conditions[0][1])
        else:
            partition = self.items.get(hash_key) if hash_key is not None else None
            if partition is None:
                candidates = []
            elif self.range_key_attr:
                candidates = sorted(partition.values(), key=lambda item: item.range_key)
            else:
                candidates = [partition]
        local.table, local.items = self, candidates
        try:
            return original_query(self, *args, **kwargs)
        finally:
            local.table = local.items = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def transactions_back_up_only_their_items() -> None:
    """Makes moto's TransactWriteItems back up the items it writes, not whole tables.

    To roll back a cancelled transaction, moto deep-copies every table the transaction names, once per
    item: a 2-item transaction on a table of 10,000 items copies 20,000 items. With DynamoDB calls run
    one at a time (above), every other request would wait behind those copies, past the SDK's read
    timeout. Here the tables are not copied; the items the transaction names are, and a failed
    transaction puts them back (or removes those it created). Nothing else runs meanwhile (the lock), so
    nobody sees the intermediate state, as with DynamoDB.
    """
    import copy
    import types

    from moto.dynamodb import models as ddb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    def deepcopy(obj: Any, memo: Any = None) -> Any:
        return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    # moto's module deep-copies tables only for that backup; other copies go through as before.
    ddb_models.copy = types.SimpleNamespace(deepcopy=deepcopy)  # type: ignore[assignment]
    original = ddb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            try:
                op_type, op = next(iter(entry.items()))
                table = self.tables[op["TableName"]]
                attrs = op["Item"] if op_type == "Put" else op["Key"]
                hash_value = DynamoType(attrs[table.hash_key_attr])
                range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
                current = table.get_item(hash_value, range_value)
            except Exception:  # noqa: S112 - a malformed entry: moto's own code reports it
                continue
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, old in reversed(saved):
                if range_value is None:
                    if old is None:
                        table.items.pop(hash_value, None)
                    else:
                        table.items[hash_value] = old
                elif old is None:
                    table.items[hash_value].pop(range_value, None)
                else:
                    table.items[hash_value][range_value] = old
            raise

    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def serialize_items_directly() -> None:
    """Answers item reads with json.dumps instead of moto's generic shape-driven serializer.

    That serializer spends ~7 ms per item (measured: 3.5 s of 4.7 s for ten Queries of 50 items), which
    would make every listing crawl locally. Item reads are plain DynamoDB JSON already; anything the fast
    path cannot write (binary values, timestamps) falls back to moto's own serializer.
    """
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name in ("Query", "GetItem", "BatchGetItem", "Scan"):
            try:
                body = json.dumps(self.result)
            except (TypeError, ValueError):
                return original(self, context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return original(self, context)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


class NoDelayRequestHandler(MotoRequestHandler):
    # werkzeug writes headers and body apart: without this, Nagle and delayed ACK can hold an answer ~40 ms.
    disable_nagle_algorithm = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rec = Recorder()
    index_moto_queries(rec)
    transactions_back_up_only_their_items()
    serialize_items_directly()

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1", args.port, recording_app(app, rec), threaded=True, request_handler=NoDelayRequestHandler
    )
    sys.stdout.write(f"READY {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()

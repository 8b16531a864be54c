"""The local AWS service: moto's server behind a thin WSGI layer that counts and records for tests.

It counts DynamoDB calls by operation (so tests assert the cost of a request and that none is a Scan),
stamps the mails SES accepts (for /__local__/mails) and counts S3 writes (so the stack knows when to look
for new objects to fire S3 events). None of this is visible to the production code, which only sees AWS.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from infra.cfn import LOCAL_ACCOUNT_ID, LOCAL_REGION


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dynamodb_calls: Counter[str] = Counter()
        self.s3_writes = 0
        self.mail_times: dict[str, str] = {}

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
        if target.startswith("DynamoDB_"):
            with rec.lock:
                rec.dynamodb_calls[target.split(".", 1)[1]] += 1
        auth = environ.get("HTTP_AUTHORIZATION", "")
        is_s3_write = "/s3/aws4_request" in auth and environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE")
        result = app(environ, start_response)
        if "/ses/aws4_request" in auth:
            rec.stamp_mails()
        if is_s3_write:
            with rec.lock:
                rec.s3_writes += 1
        return result

    return wsgi


def _local(environ: dict[str, Any], start_response: Callable[..., Any], rec: Recorder) -> Iterable[bytes]:
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    body: Any
    if path == "/__local__/dynamodb-calls":
        with rec.lock:
            if method == "DELETE":
                rec.dynamodb_calls.clear()
            body = dict(rec.dynamodb_calls)
    elif path == "/__local__/mails":
        body = rec.mails()
    elif path == "/__local__/s3-writes":
        with rec.lock:
            body = {"count": rec.s3_writes}
    else:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"message":"Not Found"}']
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rec = Recorder()
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1", args.port, recording_app(app, rec), threaded=True, request_handler=MotoRequestHandler
    )
    sys.stdout.write(f"READY {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()

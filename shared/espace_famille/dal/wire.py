"""AWS's JSON 1.0 protocol (DynamoDB, SQS) over http.client with SigV4: the request path's AWS calls, without boto3.

Importing boto3 and creating a DynamoDB client cost about 1.3 times `import boto3` at every cold start, and
the functions on the request path need none of what it brings: each call is a POST of the same JSON the
low-level client takes, named by an `X-Amz-Target` header. What boto3 gave them is kept here: SigV4 as
botocore computes it (tests/unit/test_wire.py compares the two), retries as botocore's standard mode,
connect and read timeouts, kept-alive connections, a client request token on transactions.

Credentials and region come from the environment, as Lambda sets them (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION). Only when no key is set there (an operator's
profile, for the command-line tool) is botocore asked for its credential chain. The endpoint follows
boto3's variables: AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL (the local stack's moto).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import os
import random
import select
import threading
import time
import uuid
from base64 import b64encode
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from espace_famille.config import xray_sdk_enabled

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIXES = {"dynamodb": "DynamoDB_20120810.", "sqs": "AmazonSQS."}
MAX_ATTEMPTS = 5  # botocore's standard mode, as the boto3 clients here were configured
MAX_BACKOFF_SECONDS = 20.0
CONNECT_TIMEOUT_SECONDS = 2.0  # a Lambda has seconds, not minutes
READ_TIMEOUT_SECONDS = 5.0
# botocore's standard mode: throttling and transient errors are retried, with any 5xx and broken connections.
_RETRIED_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_RETRIED_STATUSES = frozenset({500, 502, 503, 504})
# How a kept-alive connection that the server closed fails (not a timeout: that one is a slow server).
_STALE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class AwsError(Exception):
    """A call that failed: `code` is AWS's error code (ConditionalCheckFailedException…), or ConnectionError
    when no answer came after every attempt; `cancellation_reasons` the per-item codes of a cancelled
    transaction ("None", "ConditionalCheckFailed", …), in the transaction's order."""

    def __init__(self, code: str, message: str, status: int, cancellation_reasons: list[str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status
        self.cancellation_reasons = cancellation_reasons or []


def endpoint(service: str = "dynamodb") -> str:
    """Where boto3 would send the calls: the configured endpoint (the local stack's), else the region's."""
    specific = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
    configured = specific or os.environ.get("AWS_ENDPOINT_URL")
    return configured or f"https://{service}.{region()}.amazonaws.com"


def region() -> str:
    found = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if found:
        return found
    from botocore.session import get_session  # an operator's profile only: Lambda always sets AWS_REGION

    return str(get_session().get_config_variable("region") or "us-east-1")


def credentials() -> tuple[str, str, str | None]:
    """(access key, secret key, session token): Lambda's environment, else botocore's chain (a profile)."""
    key = os.environ.get("AWS_ACCESS_KEY_ID")
    if key:
        return key, os.environ.get("AWS_SECRET_ACCESS_KEY", ""), os.environ.get("AWS_SESSION_TOKEN") or None
    from botocore.session import get_session

    found = get_session().get_credentials()
    if found is None:
        raise AwsError("NoCredentials", "no AWS credentials in the environment nor in botocore's chain", 0)
    frozen = found.get_frozen_credentials()
    return frozen.access_key, frozen.secret_key, frozen.token


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signed_headers(
    host: str,
    target: str,
    body: bytes,
    now: datetime,
    credentials: tuple[str, str, str | None],
    region_name: str,
    service: str = "dynamodb",
) -> dict[str, str]:
    """The headers of a signed POST / (SigV4); `credentials` are (access key, secret key, session token)."""
    access_key, secret_key, token = credentials
    amz_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers = {"content-type": CONTENT_TYPE, "host": host, "x-amz-date": amz_date, "x-amz-target": target}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region_name}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region_name), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


class _Pool:
    """Kept-alive connections, shared by the process's threads: one per concurrent call, reused after it.

    A listing queries its régies from several threads at once; each takes an idle connection (or opens
    one) and gives it back, so the next request's calls skip the TCP and TLS handshakes.
    """

    def __init__(self) -> None:
        self._idle: dict[str, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def post(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        conn = self._idle_connection(url)
        if conn is not None:
            try:
                return self._exchange(url, conn, headers, body)
            except _STALE:
                # A kept-alive connection the server closed while the process was frozen between
                # invocations: sent again at once on a new connection, as urllib3 does, not after a backoff.
                pass
        return self._exchange(url, self._open(url), headers, body)

    def _exchange(
        self, url: str, conn: http.client.HTTPConnection, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        try:
            conn.request("POST", "/", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.setdefault(url, []).append(conn)
        return response.status, data

    def _idle_connection(self, url: str) -> http.client.HTTPConnection | None:
        """An idle connection still open: one the server closed meanwhile reads as ready (EOF) and is dropped."""
        while True:
            with self._lock:
                idle = self._idle.get(url)
                conn = idle.pop() if idle else None
            if conn is None or conn.sock is None:
                return None
            readable, _, _ = select.select([conn.sock], [], [], 0)
            if not readable:
                return conn
            conn.close()

    @staticmethod
    def _open(url: str) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.netloc, timeout=CONNECT_TIMEOUT_SECONDS)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(READ_TIMEOUT_SECONDS)
        return conn

    def close(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for conn in idle:
                    conn.close()
            self._idle.clear()


_pool = _Pool()


def _json_default(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return b64encode(value).decode("ascii")  # binary attribute values travel in base64
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _user_agent() -> str:
    # The local AWS server tells functions apart by the app id boto3 would put there (AWS_SDK_UA_APP_ID).
    app = os.environ.get("AWS_SDK_UA_APP_ID")
    return "espace-famille-wire" + (f" app/{app}" if app else "")


@contextlib.contextmanager
def _subsegment(service: str, operation: str) -> Iterator[None]:
    """An X-Ray subsegment per call when the SDK is loaded (EnableXRaySdk), as its botocore patch made."""
    if not xray_sdk_enabled():
        yield
        return
    from aws_xray_sdk.core import xray_recorder

    with xray_recorder.in_subsegment(service) as sub:
        if sub is not None:
            sub.namespace = "aws"
            sub.put_annotation("operation", operation)
        yield


def call(operation: str, payload: dict[str, Any], service: str = "dynamodb") -> dict[str, Any]:
    """One call (GetItem, TransactWriteItems, SendMessage…) with the low-level client's arguments; its answer.

    Retried like botocore's standard mode: throttling, 5xx and broken connections, up to MAX_ATTEMPTS with
    capped exponential backoff and full jitter. A transaction carries a ClientRequestToken, sent again on
    each retry, so DynamoDB answers a retried success as a success instead of running it twice.
    """
    if operation == "TransactWriteItems" and "ClientRequestToken" not in payload:
        payload = {**payload, "ClientRequestToken": str(uuid.uuid4())}
    url = endpoint(service)
    host = urlsplit(url).netloc
    body = json.dumps(payload, separators=(",", ":"), default=_json_default).encode("utf-8")
    target = TARGET_PREFIXES[service] + operation
    keys, region_name = credentials(), region()
    with _subsegment(service, operation):
        for attempt in range(MAX_ATTEMPTS):
            last = attempt == MAX_ATTEMPTS - 1
            headers = signed_headers(host, target, body, datetime.now(UTC), keys, region_name, service)
            headers["user-agent"] = _user_agent()  # not signed, as botocore does not sign it
            try:
                status, data = _pool.post(url, headers, body)
            except (OSError, http.client.HTTPException) as exc:
                if last:
                    raise AwsError("ConnectionError", f"{type(exc).__name__}: {exc}", 0) from exc
                _backoff(attempt)
                continue
            answer: dict[str, Any] = json.loads(data) if data else {}
            if status == 200:
                return answer
            error = _error(status, answer)
            if last or not (status in _RETRIED_STATUSES or error.code in _RETRIED_CODES):
                raise error
            _backoff(attempt)
    raise AssertionError("unreachable")


def _error(status: int, answer: dict[str, Any]) -> AwsError:
    code = str(answer.get("__type", "")).rpartition("#")[2] or f"HTTP{status}"
    message = str(answer.get("message") or answer.get("Message") or "")
    reasons = [str(r.get("Code", "None")) for r in answer.get("CancellationReasons") or []]
    return AwsError(code, message, status, reasons)


def _backoff(attempt: int) -> None:
    # botocore's standard mode: full jitter over an exponential base, capped.
    time.sleep(random.uniform(0, min(MAX_BACKOFF_SECONDS, 2.0**attempt)))  # noqa: S311 - jitter, not a secret


class Client:
    """A low-level client of one service: `client.get_item(TableName=…, Key=…)` is call("GetItem", {...}).

    The request path's modules call DynamoDB and SQS through this with boto3's method names and arguments,
    so a test can still put a fake in its place.
    """

    def __init__(self, service: str) -> None:
        if service not in TARGET_PREFIXES:
            raise ValueError(f"no JSON 1.0 client for {service}")
        self.service = service

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        operation = "".join(part.capitalize() for part in name.split("_"))
        return lambda **kwargs: call(operation, kwargs, self.service)


def close_connections() -> None:
    """Closes the kept-alive connections (tests and tools that point the clients elsewhere)."""
    _pool.close()

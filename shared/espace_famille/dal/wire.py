"""DynamoDB's JSON protocol over http.client with SigV4: the session authorizer's reads, without boto3.

The authorizer runs before every authenticated request, so its cold start is on the path of every first
request a new execution environment serves. A boto3 client costs about 1.3 times `import boto3` to import
and create; the two calls the authorizer makes (GetItem, a conditional UpdateItem) need none of it. The
signature is AWS Signature Version 4, as botocore computes it (tests/unit/test_wire.py compares the two).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import random
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

SERVICE = "dynamodb"
TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
ATTEMPTS = 4
TIMEOUT_SECONDS = 3.0  # a Lambda has seconds, not minutes (botocore's client here says 2 s + 5 s)
_RETRIED_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


class DynamoDBError(Exception):
    """An error DynamoDB answered: `code` is the exception's short name (ConditionalCheckFailedException…)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def endpoint() -> str:
    """Where boto3 would send DynamoDB calls: the configured endpoint (the local stack's), else the region's."""
    configured = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
    return configured or f"https://dynamodb.{region()}.amazonaws.com"


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signed_headers(
    host: str, target: str, body: bytes, now: datetime, credentials: tuple[str, str, str | None], region_name: str
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
    scope = f"{day}/{region_name}/{SERVICE}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region_name), SERVICE), "aws4_request")
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


class _Connection:
    """One kept-alive connection per process, opened again after any failure."""

    def __init__(self) -> None:
        self._conn: http.client.HTTPConnection | None = None
        self._url = ""

    def post(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(url)
        if self._conn is None or url != self._url:
            self.close()
            cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            self._conn, self._url = cls(parts.netloc, timeout=TIMEOUT_SECONDS), url
        try:
            self._conn.request("POST", parts.path or "/", body=body, headers=headers)
            response = self._conn.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_connection = _Connection()


def call(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One DynamoDB API call (GetItem, UpdateItem…), retried on throttling, 5xx and broken connections."""
    url = endpoint()
    host = urlsplit(url).netloc
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    credentials = (
        os.environ.get("AWS_ACCESS_KEY_ID", ""),
        os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        os.environ.get("AWS_SESSION_TOKEN"),
    )
    for attempt in range(ATTEMPTS):
        last = attempt == ATTEMPTS - 1
        headers = signed_headers(host, TARGET_PREFIX + operation, body, datetime.now(UTC), credentials, region())
        try:
            status, data = _connection.post(url, headers, body)
        except (OSError, http.client.HTTPException):
            if last:
                raise
            _backoff(attempt)
            continue
        answer: dict[str, Any] = json.loads(data) if data else {}
        if status == 200:
            return answer
        code = str(answer.get("__type", "")).rpartition("#")[2] or f"HTTP{status}"
        if last or not (status >= 500 or code in _RETRIED_CODES):
            raise DynamoDBError(code, str(answer.get("message") or answer.get("Message") or ""), status)
        _backoff(attempt)
    raise AssertionError("unreachable")


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not a secret

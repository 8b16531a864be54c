"""Test helpers: starting local stacks, an HTTP client that keeps the session cookie, reading mails."""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from espace_famille.importer.s3 import report_key
from infra.cfn import LOCAL_ACCOUNT_ID
from infra.local.stack import LocalStack, StackConfig, StackThread

ROOT = Path(__file__).resolve().parents[1]

# What the session's stacks logged, and every secret the tests sent or received (passwords, tokens, invoice
# keys, cookies): tests/integration/test_zz_session.py checks that no log holds any of them.
STACK_LOGS: list[Path] = []
SECRETS: set[str] = set()
_SECRET_FIELDS = {"password", "new_password", "current_password", "old_password", "token", "key"}
# Shorter values could match any log by chance ("K" as a key), and prove nothing.
_MIN_SECRET = 5


def note_secret(value: object) -> None:
    # A value with few distinct characters ("aaaa…", a junk token of the bad-input tests) or a public
    # constant (the local account id in every ARN) would match logs by chance and prove nothing.
    if not isinstance(value, str) or value.strip() == LOCAL_ACCOUNT_ID:
        return
    if len(value.strip()) >= _MIN_SECRET and len(set(value)) >= 4:
        SECRETS.add(value.strip())


def _note_request_secrets(request: httpx.Request) -> None:
    if "json" not in request.headers.get("content-type", ""):
        return
    try:
        body = json.loads(request.content or b"null")
    except (ValueError, RecursionError):  # the bad-input tests send such bodies on purpose
        return
    if isinstance(body, dict):
        for name, value in body.items():
            if name in _SECRET_FIELDS:
                note_secret(value)


@contextmanager
def running_stack(**config: Any) -> Iterator[tuple[LocalStack, Path]]:
    """A local stack on ephemeral ports; yields it and the path of its log (functions and gateway)."""
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed when the stack stops
        "w", prefix="stack-", suffix=".log", delete=False, encoding="utf-8"
    )
    STACK_LOGS.append(Path(log_file.name))
    runner = StackThread(StackConfig(log=log_file, **config))
    try:
        runner.start()
    except BaseException:
        log_file.flush()
        print(Path(log_file.name).read_text(encoding="utf-8")[-20000:])
        runner.stop()
        raise
    try:
        yield runner.stack, Path(log_file.name)
    finally:
        runner.stop()
        log_file.close()


class Client(httpx.Client):
    """An httpx client that carries cookies itself.

    httpx never sends a `Secure` cookie over http (it copies its jar for each request), while browsers do
    send them to http://127.0.0.1; so this client keeps what Set-Cookie says and sends it back.
    """

    def __init__(self, base_url: str, ip: str | None = None, **kwargs: Any) -> None:
        self.jar: dict[str, str] = {}
        # Each client comes from its own loopback address, so that per-IP throttling of one test never
        # spills into another (Linux answers on all of 127.0.0.0/8).
        self.ip = ip or fresh_ip()
        super().__init__(
            base_url=base_url,
            timeout=30,
            transport=httpx.HTTPTransport(local_address=self.ip),
            event_hooks={"request": [self._add_cookies], "response": [self._keep_cookies]},
            **kwargs,
        )

    def _add_cookies(self, request: httpx.Request) -> None:
        _note_request_secrets(request)
        if self.jar and "cookie" not in request.headers:
            request.headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def _keep_cookies(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if re.search(r"max-age=0\b", header, re.IGNORECASE) or not value:
                self.jar.pop(name.strip(), None)
            else:
                self.jar[name.strip()] = value
                note_secret(value)


_ip_counter = itertools.count(1)


def fresh_ip() -> str:
    # Hosts 1 to 254 of a block, one block of blocks per process: no two clients ever share an address
    # (mapping the .0 host to .1 did, once a run had made more than 256 clients).
    n = next(_ip_counter)
    block = os.getpid() % 1000 * 40 + n // 254
    return f"127.{(block >> 8) & 255}.{block & 255}.{n % 254 + 1}"


def unique_email(prefix: str = "parent") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.org"


PASSWORD = "un mot de passe bien long"


SESSION_COOKIE = "__Host-ef_session"
DEVICE_COOKIE = "__Host-ef_device"


def confirmation_token(client: httpx.Client, email: str) -> str:
    """Asks for an account on `email` and returns the token of the confirmation link mailed to it."""
    before = len(mails(client, email))
    created = client.post("/api/accounts", json={"email": email})
    assert created.status_code == 202, created.text
    assert created.json() == {"status": "confirmation_sent"}
    return link_token(wait_for_mail(client, email, count=before + 1)[-1]["text"], "/compte/confirmer")


def signed_up(base_url: str, email: str | None = None, password: str = PASSWORD, name: str = "Parent") -> Client:
    """A client with a session on a new, confirmed account, as a parent gets one.

    The address first (a mail with a link), then the password and the name on the confirmation page,
    which answers with the session cookie (and a device cookie).
    """
    client = Client(base_url)
    email = email or unique_email()
    token = confirmation_token(client, email)
    confirmed = client.post("/api/accounts/confirm", json={"token": token, "password": password, "display_name": name})
    assert confirmed.status_code == 204, confirmed.text
    assert SESSION_COOKIE in client.jar
    client.email = email  # type: ignore[attr-defined]
    return client


def mails(client: httpx.Client, to: str | None = None) -> list[dict[str, Any]]:
    found = client.get("/__local__/mails").json()
    return [m for m in found if to is None or m["to"] == to]


def wait_for_mail(client: httpx.Client, to: str, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        got = mails(client, to)
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def reset_queued(client: httpx.Client) -> None:
    client.delete("/__local__/sqs-sends")


def queued(client: httpx.Client) -> int:
    """Messages sent to the stack's queues since reset_queued: the mails requests decided to send."""
    return int(client.get("/__local__/sqs-sends").json().get("SendMessage", 0))


def link_token(mail_text: str, path: str) -> str:
    m = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", mail_text)
    assert m, f"no {path}?token= link in {mail_text!r}"
    note_secret(m.group(1))
    return m.group(1)


def reset_calls(client: httpx.Client) -> None:
    client.delete("/__local__/dynamodb-calls")


def calls(client: httpx.Client) -> dict[str, int]:
    result: dict[str, int] = client.get("/__local__/dynamodb-calls").json()
    return result


def aws_calls(client: httpx.Client) -> list[dict[str, str]]:
    """The AWS calls made since the last reset, in order: [{"service", "operation"}, ...]."""
    result: list[dict[str, str]] = client.get("/__local__/aws-calls").json()
    return result


def import_via_s3(stack: LocalStack, name: str, text: str | bytes, timeout: float = 60) -> dict[str, Any]:
    """Drops a file under imports/ in the local bucket, as operations do, and returns the importer's report."""
    s3 = stack.aws.client("s3")
    bucket = stack.info()["buckets"]["ImportsBucket"]
    key = f"imports/tests-{uuid.uuid4().hex[:8]}/{name}"
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8") if isinstance(text, str) else text)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = s3.get_object(Bucket=bucket, Key=report_key(key))["Body"].read()
            report: dict[str, Any] = json.loads(body)
            return report
        except s3.exceptions.NoSuchKey:
            time.sleep(0.05)
    raise AssertionError(f"no report for {key} after {timeout}s")

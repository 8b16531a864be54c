"""Test helpers: starting local stacks, an HTTP client that keeps the session cookie, reading mails."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from infra.local.stack import LocalStack, StackConfig, StackThread

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def running_stack(**config: Any) -> Iterator[tuple[LocalStack, Path]]:
    """A local stack on ephemeral ports; yields it and the path of its log (functions and gateway)."""
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed when the stack stops
        "w", prefix="stack-", suffix=".log", delete=False, encoding="utf-8"
    )
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

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        self.jar: dict[str, str] = {}
        super().__init__(
            base_url=base_url,
            timeout=30,
            event_hooks={"request": [self._add_cookies], "response": [self._keep_cookies]},
            **kwargs,
        )

    def _add_cookies(self, request: httpx.Request) -> None:
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


def link_token(mail_text: str, path: str) -> str:
    m = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", mail_text)
    assert m, f"no {path}?token= link in {mail_text!r}"
    return m.group(1)


def reset_calls(client: httpx.Client) -> None:
    client.delete("/__local__/dynamodb-calls")


def calls(client: httpx.Client) -> dict[str, int]:
    result: dict[str, int] = client.get("/__local__/dynamodb-calls").json()
    return result

"""Password-reset requests: the answer's time for an address with an account and for one without, side by side."""

from __future__ import annotations

import json
import os
import statistics
import uuid
from typing import Any

from bench import Row
from bench.bench_accounts import _Context, _handler_module, _p, _time
from infra.local.aws import local_table
from infra.local.stack import ROOT

REQUESTS = 50
WARM_UP = 5


def _event(email: str, ip: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /api/password-resets",
        "rawPath": "/api/password-resets",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": "POST", "path": "/api/password-resets", "sourceIp": ip},
            "requestId": uuid.uuid4().hex,
            "stage": "$default",
        },
        "body": json.dumps({"email": email}),
        "isBase64Encoded": False,
    }


def main() -> list[Row]:
    with local_table(ROOT / "template.yaml", stack_name=f"bench{uuid.uuid4().hex[:6]}"):
        from espace_famille import passwords
        from espace_famille.dal import accounts as store
        from espace_famille.dal.accounts import Account

        password_hash = passwords.hash_password("un mot de passe de douze caractères ou plus")
        # A fresh address and a fresh client address per request: no throttle answers early.
        total = REQUESTS + WARM_UP
        known = [f"known-{uuid.uuid4().hex[:10]}@example.org" for _ in range(total)]
        unknown = [f"unknown-{uuid.uuid4().hex[:10]}@example.org" for _ in range(total)]
        for email in known:
            store.create(Account(uuid.uuid4().hex, email, password_hash, "Bench", True, "2026-01-01T00:00:00Z"))
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # one "mail sent" line per request would drown the table
        app = _handler_module("accounts", "accounts_app")
        ctx = _Context()
        ips = (f"10.20.{n // 250}.{n % 250 + 1}" for n in range(2 * total))
        known_times: list[float] = []
        unknown_times: list[float] = []
        for n in range(total):  # interleaved, so that noise hits both alike
            for email, times in ((known[n], known_times), (unknown[n], unknown_times)):
                event = _event(email, next(ips))
                sample = _time(lambda e=event: _check(app.handler(e, ctx)), 1)
                if n >= WARM_UP:
                    times += sample
    km, um = statistics.median(known_times), statistics.median(unknown_times)
    return [
        Row(
            "reset",
            f"POST /api/password-resets for an address with an account, warm, median of {REQUESTS}",
            f"{km:.2f} ms (p90 {_p(known_times, 0.9):.2f})",
            f"without an account: {um:.2f} ms (p90 {_p(unknown_times, 0.9):.2f})",
            f"× {km / um:.2f}",
        )
    ]


def _check(result: dict[str, Any]) -> None:
    assert result["statusCode"] == 202, result

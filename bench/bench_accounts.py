"""Accounts: argon2id on one core, what it means for a login at each Lambda memory size, and the authorizer's
warm time per request against health's.

Lambda gives a function CPU in proportion to its memory, one full vCPU at 1,769 MB. A login is one argon2id
verification (CPU-bound, one lane) plus a few DynamoDB calls, so at M MB it takes about
verify × max(1, 1769 / M) + calls; it is billed M/1024 GB × that duration.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from bench import Row
from infra.local.aws import local_table
from infra.local.stack import ROOT

REQUESTS = 300
FULL_VCPU_MB = 1769
SIZES_MB = (512, 1024, FULL_VCPU_MB)
# Public list prices (aws.amazon.com/lambda/pricing, first tier, as published in 2026; the page quotes
# US East, and Europe (Paris) lists the same first-tier rates): arm64 duration and requests.
PRICE_ARM_GB_S = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
CALLS_MS = 20.0  # a login's DynamoDB calls in-region (throttle check, account read, session write), assumed


def login_model(verify_ms: float) -> list[tuple[int, float, float]]:
    """(memory MB, expected login latency ms, cost in $ per 1,000 logins) for each size."""
    out = []
    for mb in SIZES_MB:
        latency = verify_ms * max(1.0, FULL_VCPU_MB / mb) + CALLS_MS
        cost = 1000 * (mb / 1024 * latency / 1000 * PRICE_ARM_GB_S + PRICE_PER_REQUEST)
        out.append((mb, latency, cost))
    return out


def _handler_module(function_dir: str, name: str) -> ModuleType:
    """Imports a function's app.py under its own name (every function's module is called app)."""
    path = ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-3:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _time(call: Any, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def _p(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(q * len(samples)))]


def main() -> list[Row]:
    from espace_famille import passwords

    hashes = _time(lambda: passwords.hash_password("un mot de passe de douze caractères ou plus"), 15)
    stored = passwords.hash_password("un mot de passe de douze caractères ou plus")
    verifies = _time(lambda: passwords.verify_password(stored, "un mot de passe de douze caractères ou plus"), 15)
    hash_ms, verify_ms = statistics.median(hashes), statistics.median(verifies)
    params = f"t={passwords.TIME_COST}, m={passwords.MEMORY_COST_KIB // 1024} MiB, p={passwords.PARALLELISM}"
    rows = [
        Row("accounts", f"argon2id hash ({params}), one core, median of 15", f"{hash_ms:.0f} ms"),
        Row("accounts", f"argon2id verify ({params}), one core, median of 15", f"{verify_ms:.0f} ms"),
    ]
    full = login_model(verify_ms)[-1]
    for mb, latency, cost in login_model(verify_ms):
        rows.append(
            Row(
                "accounts",
                f"login at {mb} MB (model: verify × 1769/MB + {CALLS_MS:.0f} ms), $ per 1,000 logins arm64",
                f"{latency:.0f} ms, ${cost:.5f}",
                f"at {full[0]} MB: {full[1]:.0f} ms, ${full[2]:.5f}",
                f"× {latency / full[1]:.2f} time, × {cost / full[2]:.2f} cost",
            )
        )
    with local_table(ROOT / "template.yaml", stack_name=f"bench{uuid.uuid4().hex[:6]}"):
        from espace_famille import sessions
        from espace_famille.dal import sessions as session_store

        token = "B" * 43  # the authorizer needs a live session, nothing else
        session_store.create(
            sessions.token_hash(token), uuid.uuid4().hex, sessions.SessionTimes.start(datetime.now(UTC))
        )

        authorizer = _handler_module("authorizer", "authorizer_app")
        health = _handler_module("health", "health_app")
        auth_event = {"version": "2.0", "type": "REQUEST", "cookies": [f"{sessions.COOKIE_NAME}={token}"]}
        health_event = {
            "version": "2.0",
            "routeKey": "GET /api/health",
            "rawPath": "/api/health",
            "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "http": {"method": "GET", "path": "/api/health", "sourceIp": "127.0.0.1"},
                "requestId": "b",
                "stage": "$default",
            },
            "isBase64Encoded": False,
        }
        ctx = _Context()
        assert authorizer.handler(auth_event, ctx)["isAuthorized"] is True
        assert health.handler(health_event, ctx)["statusCode"] == 200
        for _ in range(20):  # warm both, as Lambda keeps a warm environment
            authorizer.handler(auth_event, ctx)
            health.handler(health_event, ctx)
        auth_times, health_times = [], []
        for _ in range(REQUESTS):  # interleaved, so that noise hits both alike
            auth_times += _time(lambda: authorizer.handler(auth_event, ctx), 1)
            health_times += _time(lambda: health.handler(health_event, ctx), 1)
    am, hm = statistics.median(auth_times), statistics.median(health_times)
    rows.append(
        Row(
            "accounts",
            f"warm session authorizer per request (1 GetItem, stdlib client), median of {REQUESTS}, interleaved",
            f"{am:.2f} ms (p99 {_p(auth_times, 0.99):.2f})",
            f"health (1 GetItem, Powertools resolver): {hm:.2f} ms (p99 {_p(health_times, 0.99):.2f})",
            f"× {am / hm:.2f}",
        )
    )
    return rows

"""Accounts: one argon2id hash with the chosen parameters, and the authorizer's time per request vs health's."""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from espace_famille.sessions import COOKIE_NAME
from infra.local.aws import local_table
from infra.local.stack import ROOT

REQUESTS = 300


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


def main() -> None:
    from espace_famille import passwords

    hashes = _time(lambda: passwords.hash_password("un mot de passe de douze caractères ou plus"), 15)
    stored = passwords.hash_password("un mot de passe de douze caractères ou plus")
    verifies = _time(lambda: passwords.verify_password(stored, "un mot de passe de douze caractères ou plus"), 15)
    print(
        f"argon2id t={passwords.TIME_COST} m={passwords.MEMORY_COST_KIB // 1024} MiB p={passwords.PARALLELISM}: "
        f"hash median {statistics.median(hashes):.0f} ms, verify median {statistics.median(verifies):.0f} ms (15 runs)"
    )

    with local_table(ROOT / "template.yaml", stack_name=f"bench{uuid.uuid4().hex[:6]}"):
        from espace_famille import accounts
        from espace_famille.dal import accounts as store
        from espace_famille.dal.accounts import Account

        now = datetime.now(UTC)
        email = f"bench-{uuid.uuid4().hex[:8]}@example.org"
        password = "un mot de passe bien long"  # noqa: S105 - a benchmark account on a throwaway moto
        store.create(Account(uuid.uuid4().hex, email, passwords.hash_password(password), "Bench", True, "x"))
        session = accounts.login(email, password, "10.9.9.9", now)

        authorizer = _handler_module("authorizer", "authorizer_app")
        health = _handler_module("health", "health_app")
        auth_event = {"version": "2.0", "type": "REQUEST", "cookies": [f"{COOKIE_NAME}={session.token}"]}
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
    print(f"warm handler time per request, {REQUESTS} requests each, interleaved, moto server on loopback:")
    print("| handler | median (ms) | p99 (ms) |")
    print("|---|---:|---:|")
    print(f"| session authorizer (1 GetItem) | {am:.2f} | {_p(auth_times, 0.99):.2f} |")
    print(f"| health (1 GetItem) | {hm:.2f} | {_p(health_times, 0.99):.2f} |")
    print(f"authorizer / health = {am / hm:.2f}")

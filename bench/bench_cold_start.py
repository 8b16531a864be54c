"""Cold start as deployed: each function's start-up plus its first invocation, against `python -c "import boto3"`.

Every measurement is a whole fresh process, timed from the parent (start to exit) and with its own peak RSS
(os.wait4). A function's process imports its handler module, as Lambda's init does, then handles one
representative event against the template's table on a local moto server, so that what a handler loads
lazily on its first request is counted too. Baseline and function run one after the other, A B A B, and
each function's ratio is the median of its pairwise ratios: the noise of a shared machine hits both
members of a pair alike. The environment is the template's for that function, tracing as deployed.

    .venv/bin/python -m bench cold_start                     # the whole benchmark
    COLD_START_RUNS=3 .venv/bin/python -m bench cold_start   # quicker
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench import Row
from infra.cfn import Function, load_template
from infra.local.aws import local_table
from infra.local.stack import ROOT, render_demo
from infra.local.workers import lambda_environment

RUNS = int(os.environ.get("COLD_START_RUNS", "9"))
BASELINE = "import boto3"
# The process's own peak RSS (VmHWM is per address space, fresh after exec; a child's rusage would carry
# the parent's, which Linux keeps across exec).
PEAK_RSS = "\nprint('VmHWM', open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
SESSION_TOKEN = "B" * 43
PASSWORD = "un mot de passe de douze caractères ou plus"  # noqa: S105 - a benchmark's own account
CLAIM = {"collectivite_id": "JOLIEVILLE", "reference": "2017-WI-00-9710", "key": "K9710"}

PROBE = """
import json, sys
sys.path[:0] = {paths!r}
import app

class Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-3:123456789012:function:bench"
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 10_000

result = app.handler(json.loads(sys.argv[1]), Context())
print(json.dumps(result, default=str))
"""
PROBE += PEAK_RSS


@dataclass(frozen=True)
class Case:
    label: str
    logical_id: str
    event: dict[str, Any]
    expect: Callable[[dict[str, Any]], bool]
    overrides: dict[str, str] | None = None  # environment beyond the template's (a variant)


@dataclass
class Sample:
    ms: float
    rss_mb: float


def http_event(method: str, path: str, body: Any = None, account: str | None = None, **extra: Any) -> dict[str, Any]:
    """A payload 2.0 event as API Gateway sends it (the local gateway builds the same)."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "127.0.0.1:9", "content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "10.9.9.9", "protocol": "HTTP/1.1"},
            "requestId": "bench",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "domainName": "127.0.0.1",
        },
        "isBase64Encoded": False,
        **extra,
    }
    if body is not None:
        event["body"] = json.dumps(body)
    if account is not None:
        event["requestContext"]["authorizer"] = {"lambda": {"account_id": account, "session": "h"}}
    return event


def status_is(*codes: int) -> Callable[[dict[str, Any]], bool]:
    return lambda result: result.get("statusCode") in codes


def seed(bucket: str) -> tuple[str, list[Case]]:
    """The demo data, one confirmed account with a session and the demo invoice claimed; the cases."""
    from espace_famille import claims, passwords, sessions
    from espace_famille.dal import accounts as account_store
    from espace_famille.dal import sessions as session_store
    from espace_famille.importer.engine import Importer

    today = datetime.now(UTC).date()
    for path in sorted((ROOT / "infra" / "demo").glob("*.jsonl")) + sorted((ROOT / "infra" / "demo").glob("*.csv")):
        data = render_demo(path.read_text(encoding="utf-8"), today).encode("utf-8")
        report = Importer().run(path.name, lambda data=data: _stream(data))
        assert report.status == "done", report.as_json()
    now = datetime.now(UTC)
    account_id = uuid.uuid4().hex
    email = f"bench-{account_id[:8]}@example.org"
    account_store.create(
        account_store.Account(account_id, email, passwords.hash_password(PASSWORD), "Bench", True, now.isoformat())
    )
    session_store.create(sessions.token_hash(SESSION_TOKEN), account_id, sessions.SessionTimes.start(now))
    claims.claim(account_id, CLAIM["collectivite_id"], CLAIM["reference"], CLAIM["key"], "10.9.9.8", now)

    import boto3

    from infra.cfn import LOCAL_REGION

    boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=LOCAL_REGION).put_object(
        Bucket=bucket,
        Key="imports/bench/01-jolieville.jsonl",
        Body=(ROOT / "infra/demo/01-jolieville.jsonl").read_bytes(),
    )
    s3_event = {
        "Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": "imports/bench/01-jolieville.jsonl"}}}]
    }
    # PayFiP posts a form; an idop we never issued is answered 404 after the same reads as a real one.
    webhook = http_event("POST", "/webhooks/payfip")
    webhook["headers"]["content-type"] = "application/x-www-form-urlencoded"
    webhook["body"] = "idop=bench-unknown-idop"
    cases = [
        Case("health: GET /api/health", "HealthFunction", http_event("GET", "/api/health"), status_is(200)),
        Case(
            "authorizer: a live session",
            "SessionAuthorizerFunction",
            {"version": "2.0", "type": "REQUEST", "cookies": [f"{sessions.COOKIE_NAME}={SESSION_TOKEN}"]},
            lambda result: result.get("isAuthorized") is True,
        ),
        Case(
            "session: DELETE /api/session (log out)",
            "SessionFunction",
            http_event("DELETE", "/api/session"),
            status_is(204),
        ),
        Case(
            "session: POST /api/session (log in: argon2id)",
            "SessionFunction",
            http_event("POST", "/api/session", {"email": email, "password": PASSWORD}),
            status_is(200),
        ),
        Case(
            "accounts: GET /api/me",
            "AccountsFunction",
            http_event("GET", "/api/me", account=account_id),
            status_is(200),
        ),
        Case(
            "invoices: GET /api/invoices",
            "InvoicesFunction",
            http_event("GET", "/api/invoices", account=account_id),
            status_is(200),
        ),
        Case(
            "claims: POST /api/claims",
            "ClaimsFunction",
            http_event("POST", "/api/claims", CLAIM, account_id),
            status_is(200),
        ),
        Case("news: GET /api/news", "NewsFunction", http_event("GET", "/api/news", account=account_id), status_is(200)),
        Case(
            "payments: GET /api/payments",
            "PaymentsFunction",
            http_event("GET", "/api/payments", account=account_id),
            status_is(200),
        ),
        Case(
            "payfip webhook: POST /webhooks/payfip (unknown idop)",
            "PayfipWebhookFunction",
            webhook,
            status_is(404),
        ),
        Case("reconcile: no payment pending", "ReconcileFunction", {}, lambda result: result.get("checked") == 0),
        Case(
            "import: one small file from S3",
            "ImportFunction",
            s3_event,
            lambda result: result["imports"][0]["status"] == "done",
        ),
        Case(
            "health, X-Ray SDK loaded (EnableXRaySdk=true)",
            "HealthFunction",
            http_event("GET", "/api/health"),
            status_is(200),
            {"XRAY_SDK": "true", "POWERTOOLS_TRACE_DISABLED": "false", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"},
        ),
    ]
    return account_id, cases


def _stream(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[Sample, str]:
    """Runs one fresh process; its wall time from the parent and the peak RSS it printed last."""
    read_end, write_end = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, write_end, 2)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    os.close(write_end)
    with os.fdopen(read_end, "r", encoding="utf-8") as reader:
        out = reader.read()
    _, status = os.waitpid(pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark process failed:\n{out[-3000:]}")
    lines = out.strip().splitlines()
    peak_kib = int(lines[-1].split()[1])
    return Sample(elapsed, peak_kib / 1024), "\n".join(lines[:-1])


def package_size_mb(logical_id: str) -> str:
    """The built function plus the shared layer, from `make build` (sam build) if it ran."""
    build = ROOT / ".aws-sam" / "build"
    parts = [build / logical_id, build / "SharedLayer"]
    if not all(p.is_dir() for p in parts):
        return "n/a"
    size = sum(f.stat().st_size for p in parts for f in p.rglob("*") if f.is_file())
    return f"{size / 1e6:.1f}"


def main() -> list[Row]:
    stack_name = f"cold{uuid.uuid4().hex[:6]}"
    with local_table(ROOT / "template.yaml", stack_name=stack_name) as aws:
        template = load_template(ROOT / "template.yaml", {"SiteUrl": "http://127.0.0.1:9"}, stack_name=stack_name)
        _, cases = seed(template.physical_name("ImportsBucket"))
        base_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        base_env["AWS_DEFAULT_REGION"] = "eu-west-3"
        results: list[tuple[Case, list[float], list[Sample], list[Sample]]] = []
        envs: dict[str, tuple[list[str], dict[str, str]]] = {}
        for case in cases:
            function: Function = template.functions[case.logical_id]
            env = lambda_environment(function, aws.endpoint_url)
            # As deployed: the template's tracing settings, which the local stack overrides (no daemon there).
            env.update(
                {k: v for k, v in function.environment.items() if k in ("POWERTOOLS_TRACE_DISABLED", "XRAY_SDK")}
            )
            env.update(case.overrides or {})
            env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled once, as the layer's pip install does
            paths = [str(function.code_uri), str(ROOT / "shared")]
            argv = [sys.executable, "-c", PROBE.format(paths=paths), json.dumps(case.event)]
            envs[case.label] = (argv, env)
            _, out = run_measured(argv, env)  # warm-up: bytecode, page cache
            assert case.expect(json.loads(out.strip().splitlines()[-1])), (case.label, out[-2000:])
        baseline_argv = [sys.executable, "-c", BASELINE + PEAK_RSS]
        run_measured(baseline_argv, base_env)
        for case in cases:
            argv, env = envs[case.label]
            ratios, base_samples, samples = [], [], []
            for _ in range(RUNS):  # A B A B: each ratio compares neighbours in time
                base, _ = run_measured(baseline_argv, base_env)
                sample, _ = run_measured(argv, env)
                base_samples.append(base)
                samples.append(sample)
                ratios.append(sample.ms / base.ms)
            results.append((case, ratios, base_samples, samples))
            print(f"  {case.label}: × {statistics.median(ratios):.2f}", file=sys.stderr, flush=True)

    rows = []
    for case, ratios, base_samples, samples in results:
        ms = statistics.median(s.ms for s in samples)
        base_ms = statistics.median(s.ms for s in base_samples)
        rss = statistics.median(s.rss_mb for s in samples)
        base_rss = statistics.median(s.rss_mb for s in base_samples)
        size = package_size_mb(case.logical_id)
        rows.append(
            Row(
                "cold start",
                f"{case.label}",
                f"{ms:.0f} ms, {rss:.0f} MiB" + (f", package {size} MB" if size != "n/a" else ""),
                f"import boto3: {base_ms:.0f} ms, {base_rss:.0f} MiB",
                f"× {statistics.median(ratios):.2f} (RSS × {rss / base_rss:.2f})",
            )
        )
    return rows

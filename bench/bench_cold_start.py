"""Cold import time of each function's handler module, against a bare `import boto3`, in fresh processes."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from infra.cfn import load_template
from infra.local.stack import ROOT

RUNS = 9
PROBE = """
import json, sys, time
sys.path[:0] = {paths!r}
t = time.perf_counter()
{statement}
elapsed = time.perf_counter() - t
print(json.dumps({{"ms": elapsed * 1000, "argon2": "argon2" in sys.modules}}))
"""


def measure(statement: str, paths: list[str], cwd: str, tracing: bool = False) -> tuple[float, bool]:
    env = {
        "AWS_DEFAULT_REGION": "eu-west-3",
        "TABLE_NAME": "bench",
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
        "PATH": "",
    }
    samples, argon2 = [], False
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(paths=paths, statement=statement)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            check=True,
        )
        result = json.loads(out.stdout)
        samples.append(result["ms"])
        argon2 = result["argon2"]
    return statistics.median(samples), argon2


def main() -> None:
    template = load_template(ROOT / "template.yaml", {"SiteUrl": "http://127.0.0.1:3000"})
    baseline, _ = measure("import boto3", [], str(ROOT))
    rows = []
    for logical_id, fn in sorted(template.functions.items()):
        module = fn.handler.rpartition(".")[0]
        paths = [str(fn.code_uri), str(ROOT / "shared")]
        ms, argon2 = measure(f"import {module}", paths, str(fn.code_uri))
        traced_ms, _ = measure(f"import {module}", paths, str(fn.code_uri), tracing=True)
        rows.append((logical_id, ms, traced_ms, argon2))
    health = next(ms for name, ms, _, _ in rows if name == "HealthFunction")
    print(f"Python {sys.version.split()[0]}, median of {RUNS} fresh processes each")
    print("| module | cold import (ms) | × import boto3 | × health | with X-Ray tracing (ms) | imports argon2 |")
    print("|---|---:|---:|---:|---:|---|")
    print(f"| `import boto3` (baseline) | {baseline:.0f} | 1.00 | {baseline / health:.2f} | | no |")
    for name, ms, traced_ms, argon2 in rows:
        print(
            f"| {name} | {ms:.0f} | {ms / baseline:.2f} | {ms / health:.2f} | {traced_ms:.0f} |"
            f" {'yes' if argon2 else 'no'} |"
        )

"""schemathesis against docs/openapi.json on a local stack of its own, logged in (make fuzz; a short run in make test)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from tests.support import ROOT, SESSION_COOKIE, running_stack, signed_up

DOCUMENT = ROOT / "docs" / "openapi.json"
# The run's reports (git-ignored).
WORKDIR = ROOT / ".schemathesis"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
# They would end the run's own session or account; the ordinary tests cover them (test_accounts, test_logout).
EXCLUDED_OPERATIONS = ("log_out", "delete_me", "change_password")
CONFIG = ROOT / "tests" / "schemathesis.toml"
DEMO_CLAIM = {"collectivite_id": "JOLIEVILLE", "reference": "2017-WI-00-9710", "key": "K9710"}


@dataclass
class Run:
    name: str
    exit_code: int
    seconds: float
    report: dict[str, Any]
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def links_covered(self) -> int:
        """How many of the document's links the stateful phase followed (0 for the other phases)."""
        found = re.search(r"API Links:\s+(\d+) covered", self.output)
        return int(found.group(1)) if found else 0

    def figures(self) -> str:
        ops = self.report.get("operations") or {}
        cases = self.report.get("test_cases") or {}
        links = f", {self.links_covered} links followed" if "stateful" in self.name else ""
        return (
            f"{self.name}: {ops.get('tested')} operations, {cases.get('generated')} examples, "
            f"{len(self.report.get('failures') or [])} failures{links}, exit {self.exit_code}, {self.seconds:.0f} s"
        )


def logged_in(base_url: str) -> str:
    """A new confirmed account, linked to a demo régie so that the invoice routes have data: its session token."""
    client = signed_up(base_url)
    try:
        claimed = client.post("/api/claims", json=DEMO_CLAIM)
        assert claimed.status_code == 201, claimed.text
        return client.jar[SESSION_COOKIE]
    finally:
        client.close()


def run(
    base_url: str,
    name: str,
    phases: str,
    max_examples: int,
    timeout: float,
    env: dict[str, str] | None = None,
    options: tuple[str, ...] = (),
) -> Run:
    """One schemathesis run with a session of its own; its JSON report goes under .schemathesis/."""
    WORKDIR.mkdir(exist_ok=True)
    report_path = WORKDIR / f"{name}.json"
    report_path.unlink(missing_ok=True)
    token = logged_in(base_url)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        str(DOCUMENT),
        "--url",
        base_url,
        "--header",
        f"Cookie: {SESSION_COOKIE}={token}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        phases,
        "--max-examples",
        str(max_examples),
        "--generation-with-security-parameters",
        "false",
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
        "--no-color",
        "--warnings",
        "off",
    ]
    for operation in EXCLUDED_OPERATIONS:
        command += ["--exclude-operation-id", operation]
    command += options
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    output = done.stdout + done.stderr
    (WORKDIR / f"{name}.log").write_text(output, encoding="utf-8")
    return Run(name, done.returncode, seconds, report, output)


def linked_operations(document: dict[str, Any]) -> list[str]:
    """The operations that links lead from or to: the stateful run's, in the document's order."""
    targets = set()
    sources = set()
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                for link in (response.get("links") or {}).values():
                    sources.add(operation["operationId"])
                    targets.add(link["operationId"])
    return [
        o["operationId"]
        for item in document["paths"].values()
        for o in item.values()
        if o["operationId"] in sources | targets
    ]


def fuzz(base_url: str, max_examples: int, stateful_examples: int, timeout: float) -> list[Run]:
    """Every operation with generated and boundary data, then the stateful links (claim → list → detail → hide)."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    known = {o["operationId"] for item in document["paths"].values() for o in item.values()}
    # A renamed handler would otherwise slip out of the exclusion and end the run's session.
    assert set(EXCLUDED_OPERATIONS) <= known, set(EXCLUDED_OPERATIONS) - known
    # Valid data only, on the linked operations only: every step then feeds the next one.
    stateful: tuple[str, ...] = ("--mode", "positive")
    for operation in linked_operations(document):
        stateful += ("--include-operation-id", operation)
    return [
        run(base_url, "operations", "examples,coverage,fuzzing", max_examples, timeout),
        run(base_url, "stateful", "stateful", stateful_examples, timeout, {"FUZZ_CLAIM_DEMO": "1"}, stateful),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=200, help="per operation (default 200)")
    parser.add_argument("--stateful-examples", type=int, default=300, help="stateful scenarios (default 300)")
    args = parser.parse_args(argv)
    with running_stack() as (stack, log):
        runs = fuzz(stack.url, args.max_examples, args.stateful_examples, timeout=3600)
    for r in runs:
        if not r.ok:
            print(r.output[-20000:])
        print(r.figures())
    print(f"reports under {WORKDIR.relative_to(ROOT)}/, the stack's log in {log}")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())

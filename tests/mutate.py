"""`make mutate`: mutation testing (mutmut) of the modules that guard data and money, each against its fast tests.

Usage: python -m tests.mutate [--report] [MODULE ...]   (default: all of MODULES then `conditions`, in that order;
--report prints the table of what .mutmut-cache holds without running anything)

mutmut edits the source in place, one mutant at a time, and runs the module's tests: do not run other tests
in the same checkout meanwhile. Message strings are not mutated (they do not count); everything else is.
mutmut does not look inside strings: the module `conditions` mutates dal/'s condition expressions
(tests/mutate_conditions.py), with results in .mutate-conditions.json.
Results accumulate in .mutmut-cache (git-ignored); `.venv/bin/mutmut show ID` prints one mutant.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests import mutate_conditions

ROOT = Path(__file__).resolve().parent.parent
PKG = "shared/espace_famille"
PYTEST = f"{sys.executable} -m pytest -x -q -p no:cacheprovider --timeout=120"

# module → (files mutated, tests run against each mutant). The tests run in-process on moto (`table`).
MODULES: dict[str, tuple[list[str], str]] = {
    "claims": ([f"{PKG}/claims.py"], "tests/integration/test_guards.py -k 'claim or failure'"),
    "links": ([f"{PKG}/links.py"], "tests/integration/test_guards.py -k 'unlink or names'"),
    "ratelimit": ([f"{PKG}/ratelimit.py"], "tests/integration/test_guards.py"),
    "sessions": ([f"{PKG}/sessions.py"], "tests/unit/test_sessions.py"),
    "invoices": ([f"{PKG}/invoices.py"], "tests/unit/test_invoices_query.py tests/integration/test_views.py"),
    "accounts": ([f"{PKG}/accounts.py"], "tests/integration/test_expiry.py tests/integration/test_accounts_domain.py"),
    "dal": (
        [f"{PKG}/dal/links.py", f"{PKG}/dal/invoices.py", f"{PKG}/dal/counters.py", f"{PKG}/dal/sessions.py"],
        "tests/integration/test_dal.py tests/integration/test_guards.py tests/integration/test_views.py",
    ),
    "payments": (
        [f"{PKG}/payments.py"],
        "tests/unit/test_payments_plan.py tests/unit/test_api_doc.py tests/integration/test_payments_domain.py"
        " tests/integration/test_payments_edges.py -k 'not emulator'",
    ),
}

# dal/ file → the tests run against each mutant of its condition expressions (tests/mutate_conditions.py).
CONDITIONS: dict[str, str] = {
    f"{PKG}/dal/payments.py": "tests/integration/test_payments_domain.py tests/integration/test_payments_edges.py -k 'not emulator'",
    f"{PKG}/dal/accounts.py": (
        "tests/integration/test_expiry.py tests/integration/test_dal.py tests/integration/test_accounts_domain.py"
    ),
    f"{PKG}/dal/links.py": "tests/integration/test_guards.py tests/integration/test_dal.py",
    f"{PKG}/dal/outbox.py": "tests/integration/test_mail_outbox.py",
    f"{PKG}/dal/invoices.py": "tests/integration/test_views.py tests/integration/test_dal.py",
}

# module → the only functions mutated in its files (mutmut_config.py skips the other lines): the ones that
# decide about money, so that a big module's run stays feasible.
FUNCTIONS: dict[str, dict[str, list[str]]] = {
    # initiate, plan and apply were measured first, then the functions that move money or show it, then the
    # notifications, anomalies and receipts, then these (docs/testing.md); "!name" leaves a function out.
    "payments": {
        f"{PKG}/payments.py": [
            "answer",
            "new_payment_id",
            "_event",
            "_state_of",
        ]
    },
    # The token, device and password checks and confirm_password_reset were measured first (docs/testing.md).
    "accounts": {
        f"{PKG}/accounts.py": [
            "!_token",
            "!_trusted_device",
            "!_login_checks",
            "!_check_password",
            "!confirm_password_reset",
        ]
    },
}


def run(module: str) -> int:
    if module == "conditions":
        mutate_conditions.run(CONDITIONS)
        return 0
    paths, tests = MODULES[module]
    cmd = [
        sys.executable,
        "-m",
        "mutmut",
        "run",
        "--paths-to-mutate",
        ",".join(paths),
        "--runner",
        f"{PYTEST} {tests}",
        "--tests-dir",
        "tests",
        "--disable-mutation-types",
        "string,fstring",
        "--simple-output",
        "--no-progress",
    ]
    print(f"== {module}: {' '.join(paths)} against {tests}", flush=True)
    env = dict(os.environ)
    env.pop("MUTATE_FUNCTIONS", None)
    if module in FUNCTIONS:
        env["MUTATE_FUNCTIONS"] = ";".join(f"{p}:{','.join(fs)}" for p, fs in FUNCTIONS[module].items())
        print(f"   only {env['MUTATE_FUNCTIONS']}", flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def scores(paths: list[str]) -> list[tuple[str, int, int, list[int]]]:
    """Per file: mutants tested, killed, and the ids of the survivors (from mutmut's cache)."""
    db = sqlite3.connect(ROOT / ".mutmut-cache")
    out = []
    for path in paths:
        rows = db.execute(
            "SELECT m.id, m.status FROM mutant m JOIN line l ON m.line = l.id "
            "JOIN sourcefile f ON l.sourcefile = f.id WHERE f.filename = ?",
            (path,),
        ).fetchall()
        tested = [(i, s) for i, s in rows if s not in ("untested", "skipped")]
        survivors = [i for i, s in tested if s in ("bad_survived", "bad_timeout")]
        out.append((path, len(tested), len(tested) - len(survivors), survivors))
    return out


def main(argv: list[str]) -> int:
    report_only = "--report" in argv
    argv = [a for a in argv if a != "--report"]
    wanted = argv or [*MODULES, "conditions"]
    unknown = [m for m in wanted if m not in MODULES and m != "conditions"]
    if unknown:
        print(f"unknown module(s): {', '.join(unknown)}; known: {', '.join(MODULES)}, conditions")
        return 2
    for module in wanted if not report_only else []:
        run(module)
    print(f"\nMutation score, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, python -m tests.mutate {' '.join(wanted)}")
    print("| file | mutants | killed | score | surviving ids |")
    print("|---|---:|---:|---:|---|")
    failed = 0
    for module in wanted:
        rows = mutate_conditions.scores(list(CONDITIONS)) if module == "conditions" else scores(MODULES[module][0])
        for path, tested, killed, survivors in rows:
            name = f"{path} (conditions)" if module == "conditions" else path
            score = f"{100 * killed / tested:.0f} %" if tested else "-"
            print(f"| {name} | {tested} | {killed} | {score} | {'; '.join(map(str, survivors)) or '-'} |")
            failed += len(survivors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`make bench` runs every benchmark module (or those named: `python -m bench cold_start import`) and prints
one table; progress and details go to stderr."""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import Row


def main() -> int:
    wanted = set(sys.argv[1:])
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    rows: list[Row] = []
    for name in names:
        if wanted and name.removeprefix("bench_") not in wanted:
            continue
        print(f"=== {name.removeprefix('bench_')} ===", file=sys.stderr, flush=True)
        # A module that prints its own tables (bench_payments) returns None: its output stays as it is.
        rows += importlib.import_module(f"bench.{name}").main() or []
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, {os.cpu_count()} cores;"
        " every ratio compares two figures measured side by side in the same run"
    )
    print()
    print("| benchmark | measure | value | baseline (same run) | ratio |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row.bench} | {row.measure} | {row.value} | {row.baseline} | {row.ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

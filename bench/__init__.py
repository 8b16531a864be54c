"""Benchmarks (`make bench`): each bench_*.py module measures side by side and returns rows of one table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One line of `make bench`'s table: a figure, the baseline measured beside it in the same run, the ratio."""

    bench: str
    measure: str
    value: str
    baseline: str = ""
    ratio: str = ""

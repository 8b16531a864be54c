"""mutmut hook: restricts mutation to the functions named in MUTATE_FUNCTIONS ("path:func,!func;path:func")."""

from __future__ import annotations

import ast
import os
from functools import cache
from typing import Any


@cache
def _ranges(filename: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The line ranges of the functions named for this file: (mutated only these, never these ("!name"))."""
    names: set[str] = set()
    for spec in filter(None, os.environ.get("MUTATE_FUNCTIONS", "").split(";")):
        path, _, listed = spec.partition(":")
        if os.path.normpath(path) == os.path.normpath(filename):
            names.update(filter(None, listed.split(",")))
    if not names:
        return [], []
    with open(filename, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    wanted = [(n.lineno, n.end_lineno or n.lineno) for n in functions if n.name in names]
    unwanted = [(n.lineno, n.end_lineno or n.lineno) for n in functions if f"!{n.name}" in names]
    return wanted, unwanted


def pre_mutation(context: Any) -> None:  # mutmut.Context
    if "MUTATE_FUNCTIONS" not in os.environ:
        return
    wanted, unwanted = _ranges(context.filename)
    line = context.current_line_index + 1
    if any(start <= line <= end for start, end in unwanted):
        context.skip = True
    elif wanted and not any(start <= line <= end for start, end in wanted):
        context.skip = True  # a file without a restriction is mutated whole

"""mutmut hook: restricts mutation to the functions named in MUTATE_FUNCTIONS ("path:func,func;path:func")."""

from __future__ import annotations

import ast
import os
from functools import cache
from typing import Any


@cache
def _ranges(filename: str) -> list[tuple[int, int]]:
    wanted: set[str] = set()
    for spec in filter(None, os.environ.get("MUTATE_FUNCTIONS", "").split(";")):
        path, _, names = spec.partition(":")
        if os.path.normpath(path) == os.path.normpath(filename):
            wanted.update(filter(None, names.split(",")))
    if not wanted:
        return []
    with open(filename, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return [
        (node.lineno, node.end_lineno or node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in wanted
    ]


def pre_mutation(context: Any) -> None:  # mutmut.Context
    if "MUTATE_FUNCTIONS" not in os.environ:
        return
    ranges = _ranges(context.filename)
    if not ranges:
        return  # a file without a restriction is mutated whole
    line = context.current_line_index + 1
    if not any(start <= line <= end for start, end in ranges):
        context.skip = True

"""Mutation testing of the DynamoDB condition expressions in dal/ (mutmut does not look inside strings).

Every string in a dal/ module that is a condition (ConditionExpression, FilterExpression, KeyConditionExpression,
or a constant they are built from) gets the mutants a changed rule would be: AND/OR swapped, attribute_exists and
attribute_not_exists swapped, a comparison flipped or made (non-)strict, and a clause of an AND forced true or a
clause of an OR forced false (the clause stays in the text so that its placeholders are still used: DynamoDB
refuses unused ones, which would kill the mutant for the wrong reason). Each mutant is written into the file, the
file's tests run (`-x`), and the file is restored. Results go to .mutate-conditions.json (git-ignored).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".mutate-conditions.json"
_ROLES = {"ConditionExpression", "FilterExpression", "KeyConditionExpression"}
_NOT_CONDITIONS = {"UpdateExpression", "ProjectionExpression"}
_TRUE = " OR attribute_exists(PK) OR attribute_not_exists(PK))"
_FALSE = " AND attribute_exists(PK) AND attribute_not_exists(PK))"
_SWAPS = [
    (r" AND ", " OR "),
    (r" OR ", " AND "),
    (r"attribute_not_exists\(", "attribute_exists("),
    (r"attribute_exists\(", "attribute_not_exists("),
    (r" <> ", " = "),
    (r"(?<!PK) = ", " <> "),
    (r" <= ", " < "),
    (r" >= ", " > "),
    (r" < ", " <= "),
    (r" > ", " >= "),
]


@dataclass(frozen=True)
class Mutant:
    path: str
    line: int
    start: int  # offsets in the file's text
    end: int
    replacement: str
    description: str

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}:{self.description}"


def _role(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str | None:
    """Whether a string is a condition: the name it is passed or assigned under, looked up its parents."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.keyword) and parent.arg:
            return parent.arg
        if isinstance(parent, ast.Dict):
            for k, v in zip(parent.keys, parent.values, strict=True):
                if v is child and isinstance(k, ast.Constant) and isinstance(k.value, str):
                    return k.value
            return None
        if isinstance(parent, ast.Assign | ast.AnnAssign):
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            return "update" if any(n in ("update", "sets") for n in names) else "constant"
        if isinstance(parent, ast.Call):
            func = parent.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("query_all", "query", "_query", "query_page"):
                return "KeyConditionExpression"
            if name == "append":
                return "update"
        if isinstance(parent, ast.stmt):
            return None
        child, parent = parent, parents.get(parent)
    return None


def _outside_braces(text: str) -> list[bool]:
    """Per character of an f-string's source: True outside its {expressions}."""
    depth, out = 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        out.append(depth == 0)
        if ch == "}":
            depth = max(0, depth - 1)
    return out


def _clauses(text: str, joiner: str) -> list[tuple[int, int]]:
    """Spans of the clauses joined by `joiner` at the same parenthesis depth, for every group with two or more."""
    groups: dict[tuple[int, int], list[int]] = {}  # (depth, group start) -> joiner positions
    stack = [0]
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            stack.append(i + 1)
        elif ch == ")" and len(stack) > 1:
            stack.pop()
        elif text.startswith(joiner, i):
            groups.setdefault((len(stack), stack[-1]), []).append(i)
            i += len(joiner)
            continue
        i += 1
    spans = []
    for (_depth, start), positions in groups.items():
        # The group ends at the closing parenthesis of its depth (or the end of the text).
        end, d = len(text), 0
        for j in range(positions[-1], len(text)):
            if text[j] == "(":
                d += 1
            elif text[j] == ")":
                if d == 0:
                    end = j
                    break
                d -= 1
        bounds = [start, *(p + len(joiner) for p in positions)]
        ends = [*positions, end]
        for b, e in zip(bounds, ends, strict=True):
            if b == 0:  # the first clause starts with the string's prefix and quote
                b = len(text) - len(text.lstrip("fFrRbBuU"))
            while b < e and text[b] in "\"' ":
                b += 1
            while e > b and text[e - 1] in "\"' ":
                e -= 1
            spans.append((b, e))
    return spans


def mutants_of(path: str) -> list[Mutant]:
    source = (ROOT / path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    line_starts = [0]
    for line in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    out: list[Mutant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(parents.get(node), ast.JoinedStr):
            continue  # part of an f-string, mutated with it
        if not (isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))):
            continue
        assert node.end_lineno is not None and node.end_col_offset is not None
        start = line_starts[node.lineno - 1] + node.col_offset
        end = line_starts[node.end_lineno - 1] + node.end_col_offset
        text = source[start:end]
        role = _role(node, parents)
        if role in _NOT_CONDITIONS or role == "update" or role is None:
            continue
        if role == "constant" and not re.search(r":\w|attribute_|<>|<=", text):
            continue
        if role not in _ROLES and role != "constant":
            continue
        outside = _outside_braces(text)
        for pattern, repl in _SWAPS:
            for m in re.finditer(pattern, text):
                if not all(outside[m.start() : m.end()]):
                    continue
                if m.group(0) == " AND " and re.search(r"BETWEEN \S+$", text[: m.start()]):
                    continue  # BETWEEN's own AND
                if role == "KeyConditionExpression" and repl in (" <> ", " OR "):
                    continue  # DynamoDB refuses these in a key condition (moto does not): syntax, not a rule
                mutated = text[: m.start()] + repl + text[m.end() :]
                what = f"{m.group(0).strip()} -> {repl.strip()} at {m.start()}"
                out.append(Mutant(path, node.lineno, start, end, mutated, what))
        if role == "KeyConditionExpression":
            continue
        for joiner, tail, what in ((" AND ", _TRUE, "true"), (" OR ", _FALSE, "false")):
            for b, e in _clauses(text, joiner):
                clause = text[b:e]
                if not all(outside[b:e]) or not clause.strip() or '"' in clause:
                    continue
                mutated = text[:b] + "(" + clause + tail + text[e:]
                out.append(Mutant(path, node.lineno, start, end, mutated, f"clause `{clause.strip()}` forced {what}"))
    return out


def run(files: dict[str, str], python: str = sys.executable) -> dict[str, str]:
    """Runs every mutant of each file against its tests; returns key -> killed/survived (also saved)."""
    results: dict[str, str] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the file is restored when stopped
    for path, tests in files.items():
        original = (ROOT / path).read_text(encoding="utf-8")
        mutants = mutants_of(path)
        print(f"== conditions of {path}: {len(mutants)} mutants against {tests}", flush=True)
        for mutant in mutants:
            if mutant.key in results:
                continue
            mutated = original[: mutant.start] + mutant.replacement + original[mutant.end :]
            try:
                (ROOT / path).write_text(mutated, encoding="utf-8")
                cmd = [python, *shlex.split(f"-m pytest -x -q -p no:cacheprovider --timeout=120 {tests}")]
                rc = subprocess.call(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            finally:
                (ROOT / path).write_text(original, encoding="utf-8")
            results[mutant.key] = "killed" if rc != 0 else "survived"
            print(f"{results[mutant.key]:8} {mutant.key}", flush=True)
            RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return results


def scores(files: list[str]) -> list[tuple[str, int, int, list[str]]]:
    results: dict[str, str] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    out = []
    for path in files:
        current = {m.key for m in mutants_of(path)}  # a result of an older version of the file or tool is left out
        mine = {k: v for k, v in results.items() if k in current}
        survivors = [k.removeprefix(f"{path}:") for k, v in mine.items() if v == "survived"]
        out.append((path, len(mine), len(mine) - len(survivors), survivors))
    return out


if __name__ == "__main__":
    for p in sys.argv[1:]:
        for m in mutants_of(p):
            print(m.key, "|", m.replacement)

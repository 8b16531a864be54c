"""What may import what (docs/architecture.md): handlers → domain → dal → table, read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT

SHARED = ROOT / "shared" / "espace_famille"
HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT / "shared").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module the file imports, anywhere in it (`from a import b` counts as a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _under(imported: set[str], package: str) -> set[str]:
    return {name for name in imported if name == package or name.startswith(package + ".")}


SOURCES = {_module(p): _imports(p) for p in SHARED.rglob("*.py")}
DAL = {name for name in SOURCES if name.startswith("espace_famille.dal")}


def test_the_sources_are_read():
    assert len(HANDLERS) > 10 and "espace_famille.dal.keys" in DAL and "espace_famille.invoices" in SOURCES


def test_handlers_reach_the_table_only_through_the_domain():
    for handler in HANDLERS:
        imported = _imports(handler)
        assert _under(imported, "espace_famille.dal") == set(), handler
        assert _under(imported, "boto3") | _under(imported, "botocore") == set(), handler


def test_only_dal_builds_keys():
    for name, imported in SOURCES.items():
        if name not in DAL:
            assert "espace_famille.dal.keys" not in imported, name
    for handler in HANDLERS:
        assert "espace_famille.dal.keys" not in _imports(handler), handler


def test_dal_imports_nothing_above_it():
    # The modules that use dal (the domain, the API plumbing, the answers) are above it.
    above = {name for name, imported in SOURCES.items() if name not in DAL and _under(imported, "espace_famille.dal")}
    above |= {"espace_famille.api", "espace_famille.answers"}
    assert {"espace_famille.invoices", "espace_famille.payments"} <= above
    for name in DAL:
        assert SOURCES[name] & above == set(), name


def test_the_answers_are_built_from_the_model_alone():
    imported = _under(SOURCES["espace_famille.answers"], "espace_famille")
    assert imported <= _under(imported, "espace_famille.model"), imported


def test_only_the_payfip_adapter_imports_the_payment_libraries():
    for name, imported in SOURCES.items():
        if name != "espace_famille.payfip":
            assert _under(imported, "eopayment") | _under(imported, "zeep") == set(), name
    for handler in HANDLERS:
        assert _under(_imports(handler), "eopayment") | _under(_imports(handler), "zeep") == set(), handler

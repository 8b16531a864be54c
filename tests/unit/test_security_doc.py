"""docs/security.md names the tests that hold each control: every test it names exists."""

from __future__ import annotations

import re

from tests.support import ROOT

DOC = ROOT / "docs" / "security.md"
# `integration/test_x.py::test_name` opens a reference; `::test_other` right after it in the same cell
# names another test of that file.
_REF = re.compile(r"`((?:unit|integration|gateway)/test_\w+\.py)(?:::(\w+))?[^`]*`|`::(\w+)[^`]*`")


def _references() -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        for cell in line.split("|"):
            current: str | None = None
            for m in _REF.finditer(cell):
                if m.group(1):
                    current = m.group(1)
                    found.append((current, m.group(2)))
                elif current is not None:
                    found.append((current, m.group(3)))
                else:
                    raise AssertionError(f"`::{m.group(3)}` without a file before it: {cell.strip()}")
    return found


def test_every_test_the_security_page_names_exists():
    references = _references()
    assert len(references) > 40
    for path, name in references:
        source = ROOT / "tests" / path
        assert source.is_file(), path
        if name:
            assert re.search(rf"^def {name}\(", source.read_text(encoding="utf-8"), re.MULTILINE), f"{path}::{name}"


def test_one_table_of_throttles_names_every_limit():
    from espace_famille import ratelimit

    text = DOC.read_text(encoding="utf-8")
    scopes = {v.scope for v in vars(ratelimit).values() if isinstance(v, ratelimit.Limit)}
    table = text.split("## Throttles", 1)[1]
    for scope in scopes:
        assert f"`{scope}`" in table, scope

"""docs/api.md states the contract: every error code our code can answer is there with its status."""

from __future__ import annotations

from espace_famille import errors, payments
from espace_famille.errors import DomainError
from tests.support import ROOT


def _error_classes() -> set[type[DomainError]]:
    found: set[type[DomainError]] = set()
    for module in (errors, payments):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, DomainError) and value is not DomainError:
                found.add(value)
    return found


def test_every_error_code_is_in_the_contract_with_its_status():
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    errors_section = " ".join(text.split("## Errors", 1)[1].split("\n## ", 1)[0].split())
    classes = _error_classes()
    assert len(classes) > 15
    for cls in classes:
        assert f"`{cls.code}`" in errors_section, cls.code
        after = errors_section.split(f"`{cls.code}`", 1)[1]
        # The status follows the code, or the list of codes sharing it ("`a` / `b` 422").
        assert f" {cls.status}" in after.split(",", 1)[0], (cls.code, cls.status)

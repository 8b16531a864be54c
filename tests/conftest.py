"""Fixtures shared by the test suites: the local stack, and a bare table on moto for domain tests."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.aws import local_table
from tests.support import ROOT, Client, running_stack


@pytest.fixture(scope="session")
def stack():
    """The real template's local stack with the demo data, shared by the integration tests."""
    with running_stack() as (stack, log):
        stack.log_path = log  # type: ignore[attr-defined]
        yield stack


@pytest.fixture
def client(stack) -> Iterator[Client]:
    with Client(stack.url) as c:
        yield c


@pytest.fixture(scope="module")
def table() -> Iterator[str]:
    """A moto server with the template's table, wired into this process's data access (no gateway).

    For domain rules that depend on time, tested with an injected clock rather than by waiting.
    """
    with local_table(ROOT / "template.yaml", stack_name=f"t{os.getpid()}"):
        yield os.environ["TABLE_NAME"]


def pytest_configure(config: pytest.Config) -> None:
    # Every local AWS server of the session notes there which calls each function made (least privilege).
    os.environ.setdefault("LOCAL_IAM_RECORD_DIR", tempfile.mkdtemp(prefix="iam-calls-"))


SESSION_CHECKS = "test_zz_session.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Integration tests share one stack: run them after the fast unit tests, so failures show early; the
    # checks of what the whole session did (logs, calls) come last.
    def order(item: pytest.Item) -> int:
        path = Path(str(item.fspath))
        if path.name == SESSION_CHECKS:
            return 2
        return 0 if path.parts[-2] == "unit" else 1

    items.sort(key=order)
    integration = ROOT / "tests" / "integration"
    collected = {Path(str(item.fspath)).name for item in items if Path(str(item.fspath)).parent == integration}
    on_disk = {p.name for p in integration.glob("test_*.py")}
    # Whether every integration test runs (no -k, no file picked): only then can "granted but never used" fail.
    config.whole_integration_suite = (  # type: ignore[attr-defined]
        collected == on_disk
        and not config.option.keyword
        and not config.option.markexpr
        and not any("::" in arg for arg in config.args)
    )

"""Fixtures shared by the test suites: the local stack, and a bare table on moto for domain tests."""

from __future__ import annotations

import os
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Integration tests share one stack: run them after the fast unit tests, so failures show early.
    items.sort(key=lambda item: 0 if Path(str(item.fspath)).parts[-2] == "unit" else 1)

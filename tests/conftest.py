"""Fixtures shared by the test suites: the local stack, and a bare table on moto for domain tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.cfn import LOCAL_REGION, load_template
from infra.local.aws import LocalAws
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
    from espace_famille import config, mail
    from espace_famille.dal import table as table_module

    aws = LocalAws()
    aws.start()
    template = load_template(ROOT / "template.yaml", {"SiteUrl": "http://127.0.0.1:9"}, stack_name=f"t{os.getpid()}")
    aws.create_resources(template)
    name = template.physical_name("Table")
    mail_from = template.parameters["MailFrom"]
    saved = dict(os.environ)
    os.environ.update(
        {
            "TABLE_NAME": name,
            "AWS_ENDPOINT_URL": aws.endpoint_url,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "MAIL_FROM": mail_from,
            "SITE_URL": "http://127.0.0.1:9",
        }
    )
    config.settings.cache_clear()
    table_module._client = None
    mail._ses = None
    try:
        yield name
    finally:
        aws.stop()
        os.environ.clear()
        os.environ.update(saved)
        config.settings.cache_clear()
        table_module._client = None
        mail._ses = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Integration tests share one stack: run them after the fast unit tests, so failures show early.
    items.sort(key=lambda item: 0 if Path(str(item.fspath)).parts[-2] == "unit" else 1)

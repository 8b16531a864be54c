"""The functions' settings: a missing or wrong variable is an error naming it, a valid environment typed values."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from espace_famille import config
from espace_famille.config import ConfigurationError, Need, load

EVERYTHING = {
    "TABLE_NAME": "prod-Table",
    "SITE_URL": "https://famille.jolieville.fr/",
    "MAIL_QUEUE_URL": "https://sqs.eu-west-3.amazonaws.com/123456789012/prod-MailQueue",
    "MAIL_FROM": "no-reply@jolieville.fr",
    "PAYFIP_MODE": "W",
}


@pytest.fixture(autouse=True)
def _no_declared_needs() -> Iterator[None]:
    """init() declares needs for the process: each test starts and ends with none."""
    yield
    config._declared = frozenset()
    config.settings.cache_clear()


def test_a_valid_environment_gives_typed_values() -> None:
    found = load(frozenset(Need), EVERYTHING)
    assert found.table_name == "prod-Table"
    assert found.site_url == "https://famille.jolieville.fr"  # links append their own path
    assert found.mail_queue_url == EVERYTHING["MAIL_QUEUE_URL"]
    assert found.mail_from == "no-reply@jolieville.fr"
    assert found.payfip_mode == "W"


def test_an_empty_site_url_means_each_requests_own_domain() -> None:
    assert load({Need.TABLE, Need.SITE}, {"TABLE_NAME": "t", "SITE_URL": ""}).site_url == ""


@pytest.mark.parametrize("need", list(Need))
def test_a_missing_variable_is_an_error_naming_it(need: Need) -> None:
    env = {k: v for k, v in EVERYTHING.items() if k != need.value}
    with pytest.raises(ConfigurationError) as caught:
        load(frozenset(Need), env)
    assert caught.value.variables == [need.value]
    assert f"{need.value} absente" in str(caught.value)


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load({Need.TABLE, Need.MAIL_QUEUE, Need.PAYFIP_MODE}, {"SITE_URL": ""})
    assert caught.value.variables == ["MAIL_QUEUE_URL", "PAYFIP_MODE", "TABLE_NAME"]


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("TABLE_NAME", "", "TABLE_NAME vide"),
        ("TABLE_NAME", "   ", "TABLE_NAME vide"),
        ("MAIL_QUEUE_URL", "", "MAIL_QUEUE_URL vide"),
        ("PAYFIP_MODE", "P", "PAYFIP_MODE doit valoir T, X, W"),
        ("PAYFIP_MODE", "", "PAYFIP_MODE vide"),
        ("SITE_URL", "famille.jolieville.fr", "SITE_URL doit être vide ou commencer par https://"),
        ("MAIL_FROM", "no-reply", "MAIL_FROM n’est pas une adresse e-mail"),
    ],
)
def test_a_wrong_value_is_an_error_naming_the_variable(variable: str, value: str, said: str) -> None:
    with pytest.raises(ConfigurationError, match=said) as caught:
        load(frozenset(Need), {**EVERYTHING, variable: value})
    assert caught.value.variables == [variable]


def test_a_setting_no_declaration_required_fails_when_read_not_when_loaded() -> None:
    found = load({Need.TABLE}, {"TABLE_NAME": "t", "PAYFIP_MODE": "Z"})
    assert found.table_name == "t"
    with pytest.raises(ConfigurationError, match="MAIL_QUEUE_URL absente"):
        _ = found.mail_queue_url
    with pytest.raises(ConfigurationError, match="PAYFIP_MODE doit valoir"):
        _ = found.payfip_mode


def test_init_reads_the_environment_once_and_checks_the_declared_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EVERYTHING.items():
        monkeypatch.setenv(name, value)
    first = config.init(Need.TABLE, Need.MAIL_QUEUE)
    monkeypatch.setenv("TABLE_NAME", "changed")
    assert config.settings() is first
    assert config.settings().table_name == "prod-Table"
    monkeypatch.delenv("MAIL_QUEUE_URL")
    with pytest.raises(ConfigurationError, match="MAIL_QUEUE_URL absente"):
        config.init(Need.TABLE, Need.MAIL_QUEUE)

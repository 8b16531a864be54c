"""Settings read once from the function's environment (set by template.yaml), checked when the function starts.

Each handler module declares what it needs (`init(Need.TABLE, Need.MAIL_QUEUE, …)`) when it is imported, as
Lambda initialises it: a deploy that lacks a variable, or gives a wrong value, fails at its first cold start
with an error naming the variable, rather than answering wrongly later. A setting read that no declaration
required and the environment lacks raises the same error at that read: never a silent empty value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Literal, cast

PayfipMode = Literal["T", "X", "W"]
PAYFIP_MODES: tuple[PayfipMode, ...] = ("T", "X", "W")


class Need(StrEnum):
    """A setting a function may need, named by its environment variable."""

    TABLE = "TABLE_NAME"  # the single table: every function that reads or writes data
    # The portal's public URL, for links in mails and the origin check; set but empty means the HTTP API's
    # own domain, read from each request.
    SITE = "SITE_URL"
    MAIL_QUEUE = "MAIL_QUEUE_URL"  # functions that send mail put it on this queue
    MAIL_SENDER = "MAIL_FROM"  # the mail function's sender address (an SES identity)
    PAYFIP_MODE = "PAYFIP_MODE"  # T or X (never real money) or W (each régie's own mode)


class ConfigurationError(RuntimeError):
    """The environment lacks a setting the function needs, or gives one a value it cannot have."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.variables = sorted(problems)
        super().__init__(
            "configuration de la fonction incomplète : "
            + "; ".join(f"{name} {problems[name]}" for name in self.variables)
            + " (variables d’environnement de template.yaml)"
        )


@dataclass(frozen=True)
class Settings:
    """The settings the environment gives, checked; reading one it does not give raises ConfigurationError."""

    given: Mapping[Need, str] = field(default_factory=dict)
    # What is wrong with the variables no declaration required: raised when one of them is read.
    wrong: Mapping[Need, str] = field(default_factory=dict)

    def _value(self, need: Need) -> str:
        if need not in self.given:
            raise ConfigurationError({need.value: self.wrong.get(need, "absente")})
        return self.given[need]

    @property
    def table_name(self) -> str:
        return self._value(Need.TABLE)

    @property
    def site_url(self) -> str:
        """The configured public URL without a trailing slash; "" to use each request's own domain."""
        return self._value(Need.SITE)

    @property
    def mail_queue_url(self) -> str:
        return self._value(Need.MAIL_QUEUE)

    @property
    def mail_from(self) -> str:
        return self._value(Need.MAIL_SENDER)

    @property
    def payfip_mode(self) -> PayfipMode:
        return cast(PayfipMode, self._value(Need.PAYFIP_MODE))


def _checked(need: Need, raw: str) -> str | None:
    """What is wrong with a value, or None."""
    if need is Need.SITE:
        ok = raw == "" or raw.startswith(("https://", "http://"))
        return None if ok else f"doit être vide ou commencer par https:// (« {raw} »)"
    if not raw:
        return "vide"
    if need is Need.PAYFIP_MODE and raw not in PAYFIP_MODES:
        return f"doit valoir {', '.join(PAYFIP_MODES)} (« {raw} »)"
    if need is Need.MAIL_SENDER and "@" not in raw:
        return f"n’est pas une adresse e-mail (« {raw} »)"
    return None


def load(needs: frozenset[Need] | set[Need] = frozenset(), environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of an environment: every need must be there with a valid value (all problems at once)."""
    env = os.environ if environ is None else environ
    given: dict[Need, str] = {}
    wrong: dict[Need, str] = {}
    for need in Need:
        raw = env.get(need.value)
        problem = "absente" if raw is None else _checked(need, raw.strip())
        if problem is not None:
            wrong[need] = problem
        elif raw is not None:
            given[need] = raw.strip().rstrip("/") if need is Need.SITE else raw.strip()
    problems = {need.value: wrong[need] for need in needs if need in wrong}
    if problems:
        raise ConfigurationError(problems)
    return Settings(given, wrong)


_declared: frozenset[Need] = frozenset()


def init(*needs: Need) -> Settings:
    """Declares the function's needs and reads its settings now: a missing or wrong one raises here."""
    global _declared
    _declared = frozenset(needs)
    settings.cache_clear()
    return settings()


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings, read once (tests and tools that change the environment clear the cache)."""
    return load(_declared)


def xray_sdk_enabled() -> bool:
    """True when the template loads the X-Ray SDK (XRAY_SDK) and Powertools' tracing is not disabled: the
    Tracer's subsegments and those of dal.wire's calls are made only then."""
    sdk = os.environ.get("XRAY_SDK", "false").lower() in ("true", "1")
    return sdk and os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() not in ("true", "1")


def payfip_saisie(regie_saisie: str, stack_mode: str) -> str:
    """The saisie mode of a payment: a stack in test (T) or activation (X) never takes real money, whatever
    the régie file says; a production stack (W) uses each régie's own mode."""
    return stack_mode if stack_mode in ("T", "X") else regie_saisie

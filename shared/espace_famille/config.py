"""Settings read from the function's environment (set by template.yaml), read once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    table_name: str
    site_url: str
    mail_from: str
    imports_bucket: str
    mail_queue_url: str
    # The stack's PayFiP mode (template parameter PayfipMode): T or X override every régie's own mode.
    payfip_mode: str = "T"


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings(
        table_name=os.environ.get("TABLE_NAME", ""),
        site_url=os.environ.get("SITE_URL", "").rstrip("/"),
        mail_from=os.environ.get("MAIL_FROM", ""),
        imports_bucket=os.environ.get("IMPORTS_BUCKET", ""),
        mail_queue_url=os.environ.get("MAIL_QUEUE_URL", ""),
        payfip_mode=os.environ.get("PAYFIP_MODE", "T"),
    )


def payfip_saisie(regie_saisie: str, stack_mode: str) -> str:
    """The saisie mode of a payment: a stack in test (T) or activation (X) never takes real money, whatever
    the régie file says; a production stack (W) uses each régie's own mode."""
    return stack_mode if stack_mode in ("T", "X") else regie_saisie

"""Data access for operations: the health probe."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from espace_famille.dal import keys
from espace_famille.dal.table import get


def table_readable() -> bool:
    """True when a real read of the table succeeds (a missing table or permission shows as False)."""
    try:
        get(keys.health())
    except (ClientError, BotoCoreError):
        return False
    return True

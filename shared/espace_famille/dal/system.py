"""Data access for operations: the health probe."""

from __future__ import annotations

from espace_famille.dal import keys
from espace_famille.dal.table import get
from espace_famille.dal.wire import AwsError


def table_readable() -> bool:
    """True when a real read of the table succeeds (a missing table or permission shows as False)."""
    try:
        get(keys.health())
    except AwsError:
        return False
    return True

"""The health check: 200 only when the function can really read the table."""

from __future__ import annotations

from espace_famille.answers import Health
from espace_famille.dal import system
from espace_famille.errors import ServiceUnavailable


def check() -> Health:
    if not system.table_readable():
        raise ServiceUnavailable("La base de données est injoignable.")
    return Health()

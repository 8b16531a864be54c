"""GET /api/health: 200 only when the function can really read the table."""

from __future__ import annotations

from espace_famille.api import lambda_handler_for, make_resolver
from espace_famille.config import Need, init
from espace_famille.dal import system
from espace_famille.errors import ServiceUnavailable

SETTINGS = init(Need.TABLE, Need.SITE)

app = make_resolver(validation=False)  # no body, no parameter


@app.get("/api/health")
def get_health() -> dict[str, str]:
    if not system.table_readable():
        raise ServiceUnavailable("La base de données est injoignable.")
    return {"status": "ok"}


handler = lambda_handler_for(app)

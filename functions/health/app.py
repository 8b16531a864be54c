"""GET /api/health: 200 only when the function can really read the table."""

from __future__ import annotations

from espace_famille import health
from espace_famille.answers import Health
from espace_famille.api import lambda_handler_for, make_resolver
from espace_famille.config import Need, init

init(Need.TABLE, Need.SITE)

app = make_resolver()


@app.get("/api/health")
def get_health() -> Health:
    return health.check()


handler = lambda_handler_for(app)

"""GET /api/news — « Actualités » of the account's collectivités, newest first."""

from __future__ import annotations

from typing import Any

from espace_famille import news
from espace_famille.api import account_id, lambda_handler_for, make_resolver
from espace_famille.config import Need, init

SETTINGS = init(Need.TABLE, Need.SITE)

app = make_resolver(validation=False)  # no body, no parameter


@app.get("/api/news")
def latest_news() -> dict[str, Any]:
    return {"news": news.latest(account_id(app))}


handler = lambda_handler_for(app)

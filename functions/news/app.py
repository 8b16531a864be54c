"""GET /api/news — « Actualités » of the account's collectivités, newest first."""

from __future__ import annotations

from espace_famille import news
from espace_famille.answers import NewsList
from espace_famille.api import account_id, lambda_handler_for, make_resolver
from espace_famille.config import Need, init

init(Need.TABLE, Need.SITE)

app = make_resolver()


@app.get("/api/news")
def latest_news() -> NewsList:
    return news.latest(account_id(app))


handler = lambda_handler_for(app)

"""« Actualités » : the news of the collectivités an account is linked to (of all of them when none yet)."""

from __future__ import annotations

import heapq

from espace_famille.answers import NewsItemAnswer, NewsList
from espace_famille.dal import catalog
from espace_famille.dal import links as link_store
from espace_famille.dal import news as store
from espace_famille.model import NewsItem

MAX_ITEMS = 20


def latest(account_id: str) -> NewsList:
    cids = sorted({lk.collectivite_id for lk in link_store.of_account(account_id)})
    items: list[NewsItem]
    if cids:
        per_collectivite = [store.latest_of(cid, MAX_ITEMS) for cid in cids]
        items = heapq.nlargest(
            MAX_ITEMS, (n for group in per_collectivite for n in group), key=lambda n: (n.published_on, n.news_id)
        )
    else:
        items = store.latest_of_all(MAX_ITEMS)
    found = catalog.lookup(collectivites={n.collectivite_id for n in items}) if items else catalog.Found({})
    return NewsList(
        news=[
            NewsItemAnswer(
                id=n.news_id,
                collectivite_id=n.collectivite_id,
                collectivite_name=found.collectivite_name(n.collectivite_id),
                title=n.title,
                category=n.category,
                published_on=n.published_on,
                body=n.body,
            )
            for n in items
        ]
    )

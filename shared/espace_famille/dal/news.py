"""Data access of news: a collectivité's items newest first, and everyone's for accounts with no link."""

from __future__ import annotations

from espace_famille.dal import catalog, keys
from espace_famille.dal.table import query, values
from espace_famille.model import NewsItem


def latest_of(cid: str, limit: int) -> list[NewsItem]:
    items, _ = query(
        "PK = :pk AND begins_with(SK, :p)",
        values(pk=keys.news_partition(cid), p="NEWS#"),
        forward=False,
        limit=limit,
    )
    return [r for r in (catalog.from_item(i) for i in items) if isinstance(r, NewsItem)]


def latest_of_all(limit: int) -> list[NewsItem]:
    items, _ = query("GSI1PK = :pk", values(pk=keys.ALL_NEWS_PARTITION), index=keys.GSI1, forward=False, limit=limit)
    return [r for r in (catalog.from_item(i) for i in items) if isinstance(r, NewsItem)]

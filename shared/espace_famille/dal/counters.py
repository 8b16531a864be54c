"""Data access of rate-limit counters: one item per scope, subject and window, collected by TTL."""

from __future__ import annotations

from espace_famille.dal import keys
from espace_famille.dal.table import batch_get, client, table, to_ddb, values


def current(wanted: list[tuple[str, str, int]]) -> dict[tuple[str, str, int], int]:
    """Counts of the given (scope, subject, window start) counters, in one call; an absent one counts 0."""
    if not wanted:
        return {}
    items = batch_get([keys.rate_counter(scope, subject, start) for scope, subject, start in wanted])
    by_key = {(i["PK"], i["SK"]): int(i.get("count", 0)) for i in items}
    out = {}
    for scope, subject, start in wanted:
        k = keys.rate_counter(scope, subject, start)
        out[(scope, subject, start)] = by_key.get((k["PK"], k["SK"]), 0)
    return out


def add(scope: str, subject: str, window_start: int, expires_at: int) -> int:
    resp = client().update_item(
        TableName=table(),
        Key=to_ddb(keys.rate_counter(scope, subject, window_start)),
        UpdateExpression="ADD #c :one SET #t = :ttl",
        ExpressionAttributeNames={"#c": "count", "#t": "ttl"},
        ExpressionAttributeValues=values(one=1, ttl=expires_at + 60),
        ReturnValues="UPDATED_NEW",
    )
    return int(resp["Attributes"]["count"]["N"])

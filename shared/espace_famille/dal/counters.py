"""Data access of rate-limit counters: one item per scope, subject and window, collected by TTL."""

from __future__ import annotations

from espace_famille.dal import keys
from espace_famille.dal.table import batch_get, batch_write, client, table, to_ddb, values


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


def add(scope: str, subject: str, window_start: int, expires_at: int, by: int = 1) -> int:
    """Adds `by` to the counter atomically and returns its new value (each concurrent caller sees its own)."""
    resp = client().update_item(
        TableName=table(),
        Key=to_ddb(keys.rate_counter(scope, subject, window_start)),
        UpdateExpression="ADD #c :by SET #t = :ttl",
        ExpressionAttributeNames={"#c": "count", "#t": "ttl"},
        ExpressionAttributeValues=values(by=by, ttl=expires_at + 60),
        ReturnValues="ALL_NEW",
    )
    return int(resp["Attributes"]["count"]["N"])


def clear(wanted: list[tuple[str, str, int]]) -> None:
    batch_write(deletes=[keys.rate_counter(scope, subject, start) for scope, subject, start in wanted])

"""Data access of régies for operations: those of a collectivité, or every one (a Scan, never on a request)."""

from __future__ import annotations

from espace_famille.dal import catalog, keys
from espace_famille.dal.table import client, from_ddb, query_all, table, values
from espace_famille.model import Regie


def of_collectivite(cid: str) -> list[Regie]:
    prefix = keys.regie(cid, "")
    found = query_all("PK = :pk AND begins_with(SK, :sk)", values(pk=prefix["PK"], sk=prefix["SK"]))
    return [r for r in map(catalog.from_item, found) if isinstance(r, Regie)]


def every() -> list[Regie]:
    """Every régie of the table, by collectivité and id; reads the whole table (operations only)."""
    prefix = keys.regie("", "")["SK"]
    args = {
        "TableName": table(),
        "FilterExpression": "begins_with(SK, :sk) AND begins_with(PK, :pk)",
        "ExpressionAttributeValues": values(sk=prefix, pk=keys.regie("", "")["PK"]),
    }
    out: list[Regie] = []
    while True:
        page = client().scan(**args)
        out += [r for r in (catalog.from_item(from_ddb(i)) for i in page.get("Items", [])) if isinstance(r, Regie)]
        if "LastEvaluatedKey" not in page:
            return sorted(out, key=lambda r: (r.collectivite_id, r.regie_id))
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

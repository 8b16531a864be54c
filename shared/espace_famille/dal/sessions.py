"""Data access of sessions: one item per session, keyed by the token's hash, indexed by account.

Reading and sliding one (the authorizer's part) live in dal.session_check, which needs no boto3.
"""

from __future__ import annotations

from espace_famille.clock import epoch, iso
from espace_famille.dal import keys
from espace_famille.dal.table import (
    batch_write,
    client,
    query_all,
    table,
    to_ddb,
    values,
)
from espace_famille.sessions import SessionTimes


def create(token_hash: str, account_id: str, times: SessionTimes) -> None:
    created = iso(times.created_at)
    item = {
        **keys.session(token_hash),
        **keys.session_gsi1(account_id, created),
        "account_id": account_id,
        "created_at": created,
        "idle_expires_at": iso(times.idle_expires_at),
        "absolute_expires_at": iso(times.absolute_expires_at),
        # TTL only collects garbage: every read checks the deadlines itself.
        "ttl": epoch(times.absolute_expires_at),
    }
    client().put_item(TableName=table(), Item=to_ddb(item), ConditionExpression="attribute_not_exists(PK)")


def delete(token_hash: str) -> None:
    client().delete_item(TableName=table(), Key=to_ddb(keys.session(token_hash)))


def for_account(account_id: str) -> list[dict[str, str]]:
    """The account's sessions (hash, times), for revocation and export; bounded by logins in 12 hours."""
    out = []
    for item in query_all(
        "GSI1PK = :pk AND begins_with(GSI1SK, :prefix)",
        values(pk=keys.account_partition(account_id), prefix="SESSION#"),
        index=keys.GSI1,
    ):
        out.append(
            {
                "token_hash": item["PK"].split("#", 1)[1],
                "created_at": item["created_at"],
                "idle_expires_at": item["idle_expires_at"],
                "absolute_expires_at": item["absolute_expires_at"],
            }
        )
    return out


def delete_all(account_id: str, keep: str | None = None) -> int:
    """Revokes every session of the account but `keep`; returns how many went."""
    doomed = [keys.session(s["token_hash"]) for s in for_account(account_id) if s["token_hash"] != keep]
    if doomed:
        batch_write(deletes=doomed)
    return len(doomed)

"""Data access of sessions: one item per session, keyed by the token's hash, indexed by account.

Reading and sliding one (the authorizer's part) live in dal.session_check, which needs no boto3.
"""

from __future__ import annotations

from datetime import datetime

from espace_famille.clock import epoch, iso
from espace_famille.dal import keys
from espace_famille.dal.table import (
    batch_write,
    client,
    get,
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


# -- device cookies -------------------------------------------------------------------------------------
def create_device(
    token_hash: str, account_id: str, email_subject: str, created_at: datetime, expires_at: datetime
) -> None:
    """Remembers a browser that logged in to the account; found again by the hash of its cookie."""
    created = iso(created_at)
    item = {
        **keys.device(token_hash),
        **keys.device_gsi1(account_id, created),
        "account_id": account_id,
        # The e-mail's digest (as the counters name it): a login checks the device against the address typed,
        # before reading any account.
        "email_subject": email_subject,
        "created_at": created,
        "expires_at": iso(expires_at),
        "ttl": epoch(expires_at),
    }
    client().put_item(TableName=table(), Item=to_ddb(item), ConditionExpression="attribute_not_exists(PK)")


def find_device(token_hash: str) -> dict[str, str] | None:
    item = get(keys.device(token_hash))
    if item is None:
        return None
    return {k: str(item[k]) for k in ("account_id", "email_subject", "created_at", "expires_at")}


def devices_of(account_id: str) -> list[dict[str, str]]:
    """The account's trusted browsers (hash, times), for export and deletion."""
    return [
        {
            "token_hash": item["PK"].split("#", 1)[1],
            "created_at": item["created_at"],
            "expires_at": item["expires_at"],
        }
        for item in query_all(
            "GSI1PK = :pk AND begins_with(GSI1SK, :prefix)",
            values(pk=keys.account_partition(account_id), prefix="DEVICE#"),
            index=keys.GSI1,
        )
    ]


def delete_devices(account_id: str) -> int:
    doomed = [keys.device(d["token_hash"]) for d in devices_of(account_id)]
    if doomed:
        batch_write(deletes=doomed)
    return len(doomed)

"""The session authorizer's data access: read a session, slide its idle deadline (dal.wire, no boto3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from espace_famille.clock import iso, parse_iso
from espace_famille.config import settings
from espace_famille.dal import keys, wire
from espace_famille.sessions import SessionTimes


@dataclass(frozen=True)
class StoredSession:
    token_hash: str
    account_id: str
    times: SessionTimes


def _key(token_hash: str) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in keys.session(token_hash).items()}


def find(token_hash: str) -> StoredSession | None:
    found = wire.call("GetItem", {"TableName": settings().table_name, "Key": _key(token_hash)}).get("Item")
    if not found:
        return None
    item = {name: value["S"] for name, value in found.items() if "S" in value}
    return StoredSession(
        token_hash=token_hash,
        account_id=item["account_id"],
        times=SessionTimes(
            parse_iso(item["created_at"]), parse_iso(item["idle_expires_at"]), parse_iso(item["absolute_expires_at"])
        ),
    )


def slide(session: StoredSession, new_times: SessionTimes, now: datetime) -> bool:
    """Moves the idle deadline if nobody did meanwhile and the session is still alive; False otherwise."""
    try:
        wire.call(
            "UpdateItem",
            {
                "TableName": settings().table_name,
                "Key": _key(session.token_hash),
                "UpdateExpression": "SET idle_expires_at = :new",
                "ConditionExpression": "idle_expires_at = :old AND absolute_expires_at > :now",
                "ExpressionAttributeValues": {
                    ":new": {"S": iso(new_times.idle_expires_at)},
                    ":old": {"S": iso(session.times.idle_expires_at)},
                    ":now": {"S": iso(now)},
                },
            },
        )
    except wire.AwsError as exc:
        if exc.code == "ConditionalCheckFailedException":
            return False
        raise
    return True

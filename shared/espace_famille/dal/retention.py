"""Data access of RGPD retention: when an account was last used, and the notice before its deletion."""

from __future__ import annotations

from espace_famille.dal import keys
from espace_famille.dal.table import Item, client, get, is_condition_failure, query_all, table, to_ddb, values
from espace_famille.dal.wire import AwsError


def note_use(account_id: str, month: str, now_iso: str) -> None:
    """The account was used: it moves to this month's partition, and a pending deletion notice is void."""
    index = keys.last_use_gsi2(month, account_id)
    try:
        client().update_item(
            TableName=table(),
            Key=to_ddb(keys.account(account_id)),
            UpdateExpression="SET last_used_at = :now, GSI2PK = :pk, GSI2SK = :sk REMOVE retention_notice_at",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues=values(now=now_iso, pk=index["GSI2PK"], sk=index["GSI2SK"]),
        )
    except AwsError as exc:
        if not is_condition_failure(exc):  # an account deleted meanwhile has nothing to note
            raise


def last_used_in(month: str) -> list[Item]:
    """The accounts whose last use fell in this month (YYYY-MM)."""
    index = keys.last_use_gsi2(month, "")
    return list(query_all("GSI2PK = :pk", values(pk=index["GSI2PK"]), index=keys.GSI2))


def mark_notified(account_id: str, last_used_at: str, now_iso: str) -> bool:
    """Records the notice, unless the account was used meanwhile; False then."""
    try:
        client().update_item(
            TableName=table(),
            Key=to_ddb(keys.account(account_id)),
            UpdateExpression="SET retention_notice_at = :now",
            ConditionExpression="last_used_at = :used AND attribute_not_exists(retention_notice_at)",
            ExpressionAttributeValues=values(now=now_iso, used=last_used_at),
        )
    except AwsError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def still_notified(account_id: str, notice_at: str) -> bool:
    """Whether the account is still unused since its notice (a login removes the notice)."""
    item = get(keys.account(account_id), consistent=True)
    return item is not None and str(item.get("retention_notice_at", "")) == notice_at

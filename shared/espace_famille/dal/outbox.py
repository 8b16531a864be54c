"""Data access of the mail outbox: mails a state change decided, stored with it, then claimed, sent, marked."""

from __future__ import annotations

from typing import Any

from espace_famille.dal import keys
from espace_famille.dal.table import Item, client, from_ddb, is_condition_failure, query, table, to_ddb, values
from espace_famille.dal.wire import AwsError

UNSENT = "unsent"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"


def put_element(mail_id: str, to: str, subject: str, text: str, created_at: str) -> dict[str, Any]:
    """The TransactWriteItems element that stores a new mail, unsent; the transaction fails if the id exists."""
    item = {
        **keys.outbox(mail_id),
        **keys.outbox_gsi2(keys.OUTBOX_UNSENT, created_at, mail_id),
        "mail_id": mail_id,
        "to": to,
        "subject": subject,
        "text": text,
        "state": UNSENT,
        "created_at": created_at,
        "attempts": 0,
    }
    return {
        "Put": {
            "TableName": table(),
            "Item": to_ddb(item),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def get(mail_id: str) -> Item | None:
    raw = client().get_item(TableName=table(), Key=to_ddb(keys.outbox(mail_id)), ConsistentRead=True).get("Item")
    return from_ddb(raw) if raw else None


def claim(mail_id: str, lease_token: str, now: str, lease_until: str) -> Item | None:
    """Takes the mail for one sender until `lease_until`; None if it is sent, held by another, or unknown.

    Only one of several deliveries of the same message (SQS is at-least-once, the sweep adds its own) gets
    it; a sender that died leaves a lease that expires, and the mail is taken again.
    """
    try:
        out = client().update_item(
            TableName=table(),
            Key=to_ddb(keys.outbox(mail_id)),
            UpdateExpression="SET #state = :sending, lease_until = :until, lease_token = :token ADD attempts :one",
            ConditionExpression=(
                "attribute_exists(PK) AND #state <> :sent AND (attribute_not_exists(lease_until) OR lease_until < :now)"
            ),
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values(
                sending=SENDING, until=lease_until, token=lease_token, one=1, sent=SENT, now=now
            ),
            ReturnValues="ALL_NEW",
        )
    except AwsError as exc:
        if is_condition_failure(exc):
            return None
        raise
    return from_ddb(out["Attributes"])


def mark_sent(mail_id: str, lease_token: str, sent_at: str, expires_epoch: int) -> bool:
    """Records the mail as sent and takes it out of the sweep's partition; False if the lease was lost."""
    try:
        client().update_item(
            TableName=table(),
            Key=to_ddb(keys.outbox(mail_id)),
            UpdateExpression=(
                "SET #state = :sent, sent_at = :at, #ttl = :ttl REMOVE lease_until, lease_token, GSI2PK, GSI2SK"
            ),
            ConditionExpression="lease_token = :token",
            ExpressionAttributeNames={"#state": "state", "#ttl": "ttl"},
            ExpressionAttributeValues=values(sent=SENT, at=sent_at, ttl=expires_epoch, token=lease_token),
        )
    except AwsError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def unclaim(mail_id: str, lease_token: str, created_at: str, give_up: bool) -> bool:
    """Gives the mail back after a failed send; with `give_up`, moves it out of the sweep's partition.

    A mail given up on stays claimable: a message redriven from the dead-letter queue still sends it.
    """
    state, partition = (FAILED, keys.OUTBOX_FAILED) if give_up else (UNSENT, keys.OUTBOX_UNSENT)
    gsi2 = keys.outbox_gsi2(partition, created_at, mail_id)
    try:
        client().update_item(
            TableName=table(),
            Key=to_ddb(keys.outbox(mail_id)),
            UpdateExpression="SET #state = :state, GSI2PK = :pk, GSI2SK = :sk REMOVE lease_until, lease_token",
            ConditionExpression="lease_token = :token",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values(state=state, pk=gsi2["GSI2PK"], sk=gsi2["GSI2SK"], token=lease_token),
        )
    except AwsError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def unsent_before(created_before: str, limit: int) -> list[Item]:
    """Mails still unsent (or held by a sender) that were stored before `created_before`, oldest first."""
    items, _ = query(
        "GSI2PK = :pk AND GSI2SK < :before",
        values(pk=keys.OUTBOX_UNSENT, before=created_before),
        index=keys.GSI2,
        limit=limit,
    )
    return items

"""Data access of accounts: the account, its unique e-mail, one-time tokens, and what it owns (for RGPD)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from espace_famille.clock import epoch, iso
from espace_famille.dal import keys
from espace_famille.dal.mapping import RecordMapping, attributes
from espace_famille.dal.table import (
    Item,
    batch_write,
    cancellation_reasons,
    client,
    get,
    query_all,
    table,
    to_ddb,
    transact,
    values,
)
from espace_famille.dal.wire import AwsError
from espace_famille.model import Account

# The one mapping of an account (docs/data-model.md). An item written before `confirmed` was stored
# is an unconfirmed one.
ACCOUNT = RecordMapping(Account, lambda a: keys.account(a.account_id), absent={"confirmed": False})


def create(account: Account) -> bool:
    """Creates a confirmed account and claims its e-mail in one transaction; False if the e-mail is taken.

    For tools and tests: requests create accounts through begin_signup and confirm_signup.
    """
    email_item = {
        **keys.email(account.email),
        "account_id": account.account_id,
        "confirmed": account.confirmed,
        "created_at": account.created_at,
    }
    try:
        transact(
            [
                {
                    "Put": {
                        "TableName": table(),
                        "Item": to_ddb(email_item),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {
                    "Put": {
                        "TableName": table(),
                        "Item": to_ddb(ACCOUNT.to_item(account)),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    except AwsError as exc:
        if cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            return False
        raise
    return True


def by_id(account_id: str, consistent: bool = False) -> Account | None:
    item = get(keys.account(account_id), consistent=consistent)
    return ACCOUNT.from_item(item) if item else None


def pointer(email: str) -> Item | None:
    """The e-mail's item: `account_id`, `confirmed`, and while unconfirmed the hash of its live confirmation token."""
    return get(keys.email(email), consistent=True)


def by_email(email: str) -> tuple[Item | None, Account | None]:
    """The e-mail's item and its confirmed account, with the same two reads whether or not either exists.

    An unknown address reads an account id that nobody has: the time of the answer tells nothing.
    """
    found = pointer(email)
    account_id = str(found["account_id"]) if found else uuid.uuid4().hex
    return found, by_id(account_id, consistent=True)


def set_password(account_id: str, password_hash: str, revoke_tokens: bool = True) -> None:
    """Sets the hash; unless it is only a rehash of the same password, revokes every outstanding reset token."""
    update = "SET password_hash = :h ADD token_generation :one" if revoke_tokens else "SET password_hash = :h"
    client().update_item(
        TableName=table(),
        Key=to_ddb(keys.account(account_id)),
        UpdateExpression=update,
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeValues=values(h=password_hash, one=1) if revoke_tokens else values(h=password_hash),
    )


# -- one-time tokens ----------------------------------------------------------------------------------
def _token_item(token_hash: str, purpose: str, expires_at: datetime, **fields: Any) -> Item:
    return {
        **keys.token(token_hash),
        "purpose": purpose,
        **fields,
        "expires_at": iso(expires_at),
        "ttl": epoch(expires_at) + 3600,
    }


def _put_token(item: Item) -> dict[str, Any]:
    return {"Put": {"TableName": table(), "Item": to_ddb(item), "ConditionExpression": "attribute_not_exists(PK)"}}


def _transact_or_false(items: list[dict[str, Any]]) -> bool:
    """Runs the transaction; False when one of its conditions failed (a lost race, a used token...)."""
    try:
        transact(items)
    except AwsError as exc:
        if cancellation_reasons(exc):
            return False
        raise
    return True


def begin_signup(email: str, new_account_id: str, token_hash: str, expires_at: datetime, now_iso: str) -> bool:
    """Records a confirmation token for an address that has no confirmed account; False if it has one.

    The e-mail item keeps the hash of the only live token: a new one revokes the previous link. Nothing else
    is stored before the owner proves the address, so nothing chosen before then can survive it.
    """
    return _transact_or_false(
        [
            {
                "Update": {
                    "TableName": table(),
                    "Key": to_ddb(keys.email(email)),
                    "UpdateExpression": (
                        "SET account_id = if_not_exists(account_id, :a), created_at = if_not_exists(created_at, :now),"
                        " confirmed = :f, confirm_token = :th"
                    ),
                    "ConditionExpression": "attribute_not_exists(PK) OR confirmed = :f",
                    "ExpressionAttributeValues": values(a=new_account_id, now=now_iso, f=False, th=token_hash),
                }
            },
            _put_token(_token_item(token_hash, "confirm", expires_at, email=email)),
        ]
    )


def issue_reset(email: str, account: Account | None, token_hash: str, expires_at: datetime) -> bool:
    """Records a reset token under the account's current token generation; False without a confirmed account.

    Without one, the same transaction is sent and fails on its condition: the same calls either way.
    """
    if account is not None:
        check = {
            "ConditionCheck": {
                "TableName": table(),
                "Key": to_ddb(keys.account(account.account_id)),
                "ConditionExpression": "attribute_exists(PK) AND token_generation = :g",
                "ExpressionAttributeValues": values(g=account.token_generation),
            }
        }
        token = _token_item(
            token_hash, "reset", expires_at, account_id=account.account_id, generation=account.token_generation
        )
    else:
        check = {
            "ConditionCheck": {
                "TableName": table(),
                "Key": to_ddb(keys.account(uuid.uuid4().hex)),
                "ConditionExpression": "attribute_exists(PK)",
            }
        }
        token = _token_item(token_hash, "reset", expires_at, account_id="", generation=0)
    return _transact_or_false([check, _put_token(token)])


def find_token(token_hash: str) -> Item | None:
    return get(keys.token(token_hash), consistent=True)


def _consume(token_hash: str, purpose: str, now_iso: str) -> dict[str, Any]:
    """Single use and expiry are enforced by the conditional delete itself, whatever TTL has done."""
    return {
        "Delete": {
            "TableName": table(),
            "Key": to_ddb(keys.token(token_hash)),
            "ConditionExpression": "purpose = :p AND expires_at > :now",
            "ExpressionAttributeValues": values(p=purpose, now=now_iso),
        }
    }


def confirm_signup(token_hash: str, account: Account, now_iso: str) -> bool:
    """Consumes the confirmation token, marks the e-mail confirmed and creates the account, together.

    False when the token was used, expired or replaced by a newer link, or the address is confirmed already.
    """
    return _transact_or_false(
        [
            _consume(token_hash, "confirm", now_iso),
            {
                "Update": {
                    "TableName": table(),
                    "Key": to_ddb(keys.email(account.email)),
                    "UpdateExpression": "SET confirmed = :t REMOVE confirm_token",
                    "ConditionExpression": "confirm_token = :th AND confirmed = :f AND account_id = :a",
                    "ExpressionAttributeValues": values(t=True, f=False, th=token_hash, a=account.account_id),
                }
            },
            {
                "Put": {
                    "TableName": table(),
                    "Item": to_ddb(ACCOUNT.to_item(account)),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]
    )


def reset_with_token(token_hash: str, account_id: str, generation: int, password_hash: str, now_iso: str) -> bool:
    """Consumes a reset token and sets the new password, if no password change or reset came since it was issued.

    The generation moves on, which revokes every other reset token of the account.
    """
    return _transact_or_false(
        [
            _consume(token_hash, "reset", now_iso),
            {
                "Update": {
                    "TableName": table(),
                    "Key": to_ddb(keys.account(account_id)),
                    "UpdateExpression": "SET password_hash = :h ADD token_generation :one",
                    "ConditionExpression": "attribute_exists(PK) AND token_generation = :g",
                    "ExpressionAttributeValues": values(h=password_hash, one=1, g=generation),
                }
            },
        ]
    )


# -- what an account owns ---------------------------------------------------------------------------
def owned_items(account_id: str) -> list[Item]:
    """Every item of the account's partition: the account itself, its links and hidden flags."""
    return list(query_all("PK = :pk", values(pk=keys.account_partition(account_id)), consistent=True))


def payment_records(account_id: str) -> list[Item]:
    """What the account's payments hold, without their keys (the account's export)."""
    return [attributes(item) for item in payments_of(account_id)]


def payments_of(account_id: str) -> list[Item]:
    return list(
        query_all(
            "GSI1PK = :pk AND begins_with(GSI1SK, :p)",
            values(pk=keys.account_partition(account_id), p="PAY#"),
            index=keys.GSI1,
            forward=False,
        )
    )


def detach_payments(account_id: str, now_iso: str) -> int:
    """Payments stay as accounting records, but no longer point at the deleted account."""
    detached = 0
    for item in payments_of(account_id):
        client().update_item(
            TableName=table(),
            Key=to_ddb({"PK": item["PK"], "SK": item["SK"]}),
            UpdateExpression="REMOVE GSI1PK, GSI1SK, account_id SET account_deleted_at = :now",
            ExpressionAttributeValues=values(now=now_iso),
        )
        detached += 1
    return detached


def delete(account: Account, now_iso: str) -> None:
    """Deletes what the account owns (links, hidden flags), then the account and its e-mail, together."""
    others = [{"PK": i["PK"], "SK": i["SK"]} for i in owned_items(account.account_id) if i["SK"] != keys.ACCOUNT_SK]
    if others:
        batch_write(deletes=others)
    transact(
        [
            {
                "Delete": {
                    "TableName": table(),
                    "Key": to_ddb(keys.account(account.account_id)),
                    "ConditionExpression": "attribute_exists(PK)",
                }
            },
            {
                "Delete": {
                    "TableName": table(),
                    "Key": to_ddb(keys.email(account.email)),
                    "ConditionExpression": "account_id = :a",
                    "ExpressionAttributeValues": values(a=account.account_id),
                }
            },
        ]
    )

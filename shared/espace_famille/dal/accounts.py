"""Data access of accounts: the account, its unique e-mail, one-time tokens, and what it owns (for RGPD)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from espace_famille.clock import epoch, iso
from espace_famille.dal import keys
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


@dataclass(frozen=True)
class Account:
    account_id: str
    email: str
    password_hash: str
    display_name: str
    confirmed: bool
    created_at: str


def _account_from(item: Item) -> Account:
    return Account(
        account_id=item["account_id"],
        email=item["email"],
        password_hash=item["password_hash"],
        display_name=item["display_name"],
        confirmed=bool(item.get("confirmed")),
        created_at=item["created_at"],
    )


def create(account: Account) -> bool:
    """Creates the account and claims its e-mail in one transaction; False if the e-mail is taken."""
    email_item = {**keys.email(account.email), "account_id": account.account_id}
    account_item = {
        **keys.account(account.account_id),
        "account_id": account.account_id,
        "email": account.email,
        "password_hash": account.password_hash,
        "display_name": account.display_name,
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
                        "Item": to_ddb(account_item),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    except ClientError as exc:
        if cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            return False
        raise
    return True


def by_id(account_id: str, consistent: bool = False) -> Account | None:
    item = get(keys.account(account_id), consistent=consistent)
    return _account_from(item) if item else None


def by_email(email: str) -> Account | None:
    pointer = get(keys.email(email))
    if pointer is None:
        return None
    return by_id(pointer["account_id"])


def set_password(account_id: str, password_hash: str) -> None:
    client().update_item(
        TableName=table(),
        Key=to_ddb(keys.account(account_id)),
        UpdateExpression="SET password_hash = :h",
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeValues=values(h=password_hash),
    )


# -- one-time tokens ----------------------------------------------------------------------------------
def save_token(token_hash: str, purpose: str, account_id: str, expires_at: datetime) -> None:
    item = {
        **keys.token(token_hash),
        "purpose": purpose,
        "account_id": account_id,
        "expires_at": iso(expires_at),
        "ttl": epoch(expires_at) + 3600,
    }
    client().put_item(TableName=table(), Item=to_ddb(item), ConditionExpression="attribute_not_exists(PK)")


def find_token(token_hash: str) -> Item | None:
    return get(keys.token(token_hash), consistent=True)


def _consume_and_update(
    token_hash: str, purpose: str, account_id: str, now_iso: str, update: str, update_values: dict[str, Any]
) -> bool:
    """Consumes a one-time token and applies the change it allows to the account, together.

    Single use and expiry are enforced by the conditional delete itself, whatever TTL has done; False when
    the token was used, expired, of another purpose, or the account is gone.
    """
    try:
        transact(
            [
                {
                    "Delete": {
                        "TableName": table(),
                        "Key": to_ddb(keys.token(token_hash)),
                        "ConditionExpression": "purpose = :p AND expires_at > :now",
                        "ExpressionAttributeValues": values(p=purpose, now=now_iso),
                    }
                },
                {
                    "Update": {
                        "TableName": table(),
                        "Key": to_ddb(keys.account(account_id)),
                        "UpdateExpression": update,
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": values(**update_values),
                    }
                },
            ]
        )
    except ClientError as exc:
        if cancellation_reasons(exc):
            return False
        raise
    return True


def confirm_with_token(token_hash: str, account_id: str, now_iso: str) -> bool:
    """Consumes a confirmation token and marks the account confirmed."""
    return _consume_and_update(token_hash, "confirm", account_id, now_iso, "SET confirmed = :t", {"t": True})


def reset_with_token(token_hash: str, account_id: str, password_hash: str, now_iso: str) -> bool:
    """Consumes a reset token and sets the new password. Following the link proves the e-mail, too."""
    return _consume_and_update(
        token_hash,
        "reset",
        account_id,
        now_iso,
        "SET password_hash = :h, confirmed = :t",
        {"h": password_hash, "t": True},
    )


# -- what an account owns ---------------------------------------------------------------------------
def owned_items(account_id: str) -> list[Item]:
    """Every item of the account's partition: the account itself, its links and hidden flags."""
    return list(query_all("PK = :pk", values(pk=keys.account_partition(account_id)), consistent=True))


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

"""RGPD retention through the local stack: a notice after 3 years unused, deletion 30 days later unless
the person logged in meanwhile; the scheduled function run as EventBridge runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from espace_famille import retention
from espace_famille.clock import iso
from espace_famille.dal import keys
from tests.support import PASSWORD, Client, signed_up, unique_email, wait_for_mail


def _table(stack):
    return stack.aws.client("dynamodb"), stack.resource_name("Table")


def account_id_of(stack, email: str) -> str:
    ddb, table = _table(stack)
    key = {k: {"S": v} for k, v in keys.email(email).items()}
    return ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["account_id"]["S"]


def set_account(stack, account_id: str, **attributes: str) -> None:
    ddb, table = _table(stack)
    names = {f"#a{i}": name for i, name in enumerate(attributes)}
    ddb.update_item(
        TableName=table,
        Key={k: {"S": v} for k, v in keys.account(account_id).items()},
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attributes))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{i}": {"S": v} for i, v in enumerate(attributes.values())},
    )


def age(stack, account_id: str, used: datetime) -> None:
    set_account(stack, account_id, last_used_at=iso(used), **keys.last_use_gsi2(used.strftime("%Y-%m"), account_id))


def run_retention(client: Client) -> dict[str, int]:
    answer = client.post("/__local__/schedules/RetentionFunction")
    assert answer.status_code == 200, answer.text
    result: dict[str, int] = answer.json()["result"]
    return result


def test_an_unused_account_is_noticed_then_deleted_unless_used_again(stack, client):
    now = datetime.now(UTC)
    email = {name: unique_email(name) for name in ("gone", "kept", "recent")}
    gone, kept, recent = (signed_up(stack.url, email[name]) for name in ("gone", "kept", "recent"))
    ids = {c: account_id_of(stack, email[name]) for c, name in ((gone, "gone"), (kept, "kept"), (recent, "recent"))}
    for c in (gone, kept):
        age(stack, ids[c], now - timedelta(days=3 * 365 + 10))
    age(stack, ids[recent], now - timedelta(days=3 * 365 - 10))

    assert run_retention(client) == {"notified": 2, "deleted": 0}
    for name in ("gone", "kept"):
        [notice] = wait_for_mail(client, email[name], count=2)[1:]
        assert notice["subject"] == retention.NOTICE_SUBJECT
    assert len(wait_for_mail(client, email["recent"], count=2, timeout=1)) == 1, "no notice before 3 years"
    # A second run the same day sends nothing again.
    assert run_retention(client) == {"notified": 0, "deleted": 0}

    # `kept` logs in during the 30 days; then the notices are 31 days old.
    with Client(stack.url) as again:
        assert again.post("/api/session", json={"email": email["kept"], "password": PASSWORD}).status_code == 200
    set_account(stack, ids[gone], retention_notice_at=iso(now - timedelta(days=31)))
    assert run_retention(client) == {"notified": 0, "deleted": 1}

    with Client(stack.url) as late:
        refused = late.post("/api/session", json={"email": email["gone"], "password": PASSWORD})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_credentials"
    assert kept.get("/api/me").status_code == 200
    assert gone.get("/api/me").status_code == 403, "its sessions went with it (the authorizer denies)"
    ddb, table = _table(stack)
    owned = ddb.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.account_partition(ids[gone])}},
    )
    assert owned["Items"] == []

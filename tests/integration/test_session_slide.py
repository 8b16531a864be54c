"""The session's idle deadline slides on use, at most once per TOUCH_EVERY, through the authorizer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from espace_famille import sessions
from espace_famille.clock import iso, parse_iso
from espace_famille.dal import keys
from tests.support import signed_up


def test_a_session_used_after_touch_every_gets_a_later_idle_deadline(stack):
    parent = signed_up(stack.url)
    token_hash = sessions.token_hash(parent.jar[sessions.COOKIE_NAME])
    ddb, table = stack.aws.client("dynamodb"), stack.resource_name("Table")
    key = {k: {"S": v} for k, v in keys.session(token_hash).items()}
    # As if the last slide was TOUCH_EVERY and a minute ago.
    stale = datetime.now(UTC) + sessions.IDLE - sessions.TOUCH_EVERY - timedelta(minutes=1)
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET idle_expires_at = :t",
        ExpressionAttributeValues={":t": {"S": iso(stale)}},
    )
    assert parent.get("/api/me").status_code == 200
    slid = parse_iso(ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["idle_expires_at"]["S"])
    assert slid > stale + sessions.TOUCH_EVERY
    # A use right after does not write again.
    assert parent.get("/api/me").status_code == 200
    again = parse_iso(ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["idle_expires_at"]["S"])
    assert again == slid

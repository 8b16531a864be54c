"""The mail outbox on moto, in-process with an injected clock: stored in the caller's transaction, claimed once."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from espace_famille import mail
from espace_famille.clock import iso
from espace_famille.dal import keys, outbox
from espace_famille.dal.table import get, to_ddb, transact
from espace_famille.dal.wire import AwsError

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def sent_to(address: str) -> int:
    """How many mails the local SES accepted for one address."""
    url = os.environ["AWS_ENDPOINT_URL"] + "/__local__/mails"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the local AWS server
        return sum(1 for m in json.loads(response.read()) if m["to"] == address)


def stored(to: str, now: datetime = NOW) -> str:
    mail_id = f"receipt-{uuid.uuid4().hex}"
    transact([mail.outbox_put(mail_id, to, "Votre reçu", "Merci pour votre paiement.", now)])
    return mail_id


def test_outbox_put_is_an_element_of_the_callers_transaction(table):
    mail_id = f"receipt-{uuid.uuid4().hex}"
    element = mail.outbox_put(mail_id, "a@example.org", "Votre reçu", "Merci.", NOW)
    other = {**keys.health(), "probe": 1}
    transact([element, {"Put": {"TableName": table, "Item": to_ddb(other)}}])
    item = get(keys.outbox(mail_id), consistent=True)
    assert item is not None
    assert (item["state"], item["to"], item["attempts"]) == ("unsent", "a@example.org", 0)
    assert item["GSI2PK"] == keys.OUTBOX_UNSENT
    # The same decision taken twice fails the second transaction, whatever else it holds.
    with pytest.raises(AwsError) as caught:
        transact([mail.outbox_put(mail_id, "a@example.org", "Votre reçu", "Merci.", NOW)])
    assert caught.value.cancellation_reasons[0] == "ConditionalCheckFailed"


def test_repeated_deliveries_send_one_mail(table):
    to = f"once-{uuid.uuid4().hex[:8]}@example.org"
    mail_id = stored(to)
    body = mail.Message(mail_id, outbox=True).body()
    outcomes = [mail.deliver(body, NOW + timedelta(seconds=s)) for s in (1, 2, 400)]
    assert outcomes == ["sent", "skipped", "skipped"]
    assert sent_to(to) == 1
    item = outbox.get(mail_id)
    assert item is not None
    assert item["state"] == "sent"
    assert "GSI2PK" not in item and "lease_until" not in item


def test_a_live_claim_keeps_others_out_and_an_expired_one_does_not(table):
    to = f"lease-{uuid.uuid4().hex[:8]}@example.org"
    mail_id = stored(to)
    assert outbox.claim(mail_id, "first", iso(NOW), iso(NOW + mail.LEASE)) is not None
    body = mail.Message(mail_id, outbox=True).body()
    assert mail.deliver(body, NOW + timedelta(seconds=30)) == "skipped"
    # The first sender died: once its lease is over, a delivery takes the mail and sends it.
    assert mail.deliver(body, NOW + mail.LEASE + timedelta(seconds=1)) == "sent"
    assert sent_to(to) == 1
    # The dead sender cannot mark it afterwards.
    assert not outbox.mark_sent(mail_id, "first", iso(NOW), 0)


def test_unknown_outbox_id_sends_nothing(table):
    assert mail.deliver(mail.Message(f"nothing-{uuid.uuid4().hex}", outbox=True).body(), NOW) == "skipped"


def test_a_refused_send_gives_the_claim_back_then_gives_up_after_the_last_attempt(table):
    # The local SES refuses this address (no domain once parsed), as SES refuses what it cannot deliver.
    mail_id = stored("a,b@x.fr")
    body = mail.Message(mail_id, outbox=True).body()
    for attempt in range(1, mail.MAX_ATTEMPTS + 1):
        with pytest.raises(ClientError):
            mail.deliver(body, NOW + timedelta(minutes=attempt))
        item = outbox.get(mail_id)
        assert item is not None
        assert item["attempts"] == attempt
        assert "lease_until" not in item
        expected = ("failed", keys.OUTBOX_FAILED) if attempt == mail.MAX_ATTEMPTS else ("unsent", keys.OUTBOX_UNSENT)
        assert (item["state"], item["GSI2PK"]) == expected


def test_unsent_before_reads_only_old_unsent_mails(table):
    old = stored(f"old-{uuid.uuid4().hex[:8]}@example.org", NOW - timedelta(days=400))
    recent = stored(f"new-{uuid.uuid4().hex[:8]}@example.org", NOW - timedelta(days=399, minutes=59))
    found = [i["mail_id"] for i in outbox.unsent_before(iso(NOW - timedelta(days=399, hours=1)), 100)]
    assert old in found
    assert recent not in found


def test_a_lease_still_holds_at_its_last_instant(table):
    mail_id = stored(f"edge-{uuid.uuid4().hex[:8]}@example.org")
    until = NOW + mail.LEASE
    assert outbox.claim(mail_id, "first", iso(NOW), iso(until)) is not None
    assert outbox.claim(mail_id, "second", iso(until), iso(until + mail.LEASE)) is None
    assert outbox.claim(mail_id, "second", iso(until + timedelta(microseconds=1)), iso(until + mail.LEASE))

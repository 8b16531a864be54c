"""Mail off the request path, through the local stack: queue, mail function, retries, dead-letter queue, sweep.

A stack of its own (no demo data), whose mail queue makes a failed message visible again after one second
instead of three minutes, so that retries happen while the test waits; everything else is the template's.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from espace_famille import aws, config, mail
from espace_famille.clock import system_clock
from espace_famille.dal import keys, outbox
from espace_famille.dal.table import from_ddb, to_ddb, transact
from infra.local.stack import LocalStack
from tests.support import Client, link_token, mails, running_stack, unique_email, wait_for_mail

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mail_stack() -> Iterator[LocalStack]:
    with running_stack(load_demo=False, queue_attributes={"MailQueue": {"VisibilityTimeout": "1"}}) as (stack, log):
        stack.log_path = log  # type: ignore[attr-defined]
        yield stack


@pytest.fixture(scope="module")
def domain(mail_stack: LocalStack) -> Iterator[LocalStack]:
    """This process's data access and mail module pointed at the stack's table and queue."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "TABLE_NAME": mail_stack.resource_name("Table"),
            "MAIL_QUEUE_URL": mail_stack.info()["queues"]["MailQueue"],
            "AWS_ENDPOINT_URL": mail_stack.aws.endpoint_url,
            "AWS_DEFAULT_REGION": "eu-west-3",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
    )
    config.settings.cache_clear()
    aws.forget_clients()
    try:
        yield mail_stack
    finally:
        os.environ.clear()
        os.environ.update(saved)
        config.settings.cache_clear()
        aws.forget_clients()


def queue_counts(stack: LocalStack, name: str) -> tuple[int, int]:
    found = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.info()["queues"][name],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(found["ApproximateNumberOfMessages"]), int(found["ApproximateNumberOfMessagesNotVisible"])


def wait_until(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def drained(stack: LocalStack) -> bool:
    """Every message of the mail queue handled: none waiting, none being handled."""
    return queue_counts(stack, "MailQueue") == (0, 0)


def stored_item(stack: LocalStack, key: dict[str, str]) -> dict[str, Any] | None:
    raw = (
        stack.aws.client("dynamodb")
        .get_item(TableName=stack.resource_name("Table"), Key=to_ddb(key), ConsistentRead=True)
        .get("Item")
    )
    return from_ddb(raw) if raw else None


def test_a_mail_ses_refuses_fails_no_request_is_retried_then_dead_lettered_then_redriven(mail_stack):
    ses = mail_stack.aws.client("sesv2")
    sender = mail_stack.template.parameters["MailFrom"]
    pool = mail_stack.pools["MailFunction"]
    email = unique_email("refused")
    # SES refuses every mail of an unverified sender (MessageRejected), as it would after a lost verification.
    ses.delete_email_identity(EmailIdentity=sender)
    try:
        wait_until(lambda: drained(mail_stack))
        before = pool.invocations
        with Client(mail_stack.url) as client:
            client.delete("/__local__/sqs-sends")
            created = client.post("/api/accounts", json={"email": email})
            assert created.status_code == 202, created.text
            assert created.json() == {"status": "confirmation_sent"}
            # The request queued its mail, one message, and never talked to SES.
            assert client.get("/__local__/sqs-sends").json() == {"SendMessage": 1}
            # The request's writes are whole: the pending sign-up and the token its link carries.
            pending = stored_item(mail_stack, keys.email(email))
            assert pending is not None and not pending["confirmed"]
            assert stored_item(mail_stack, keys.token(pending["confirm_token"])) is not None

            wait_until(lambda: queue_counts(mail_stack, "MailDeadLetterQueue")[0] == 1)
            assert drained(mail_stack)
            # Received maxReceiveCount (5) times, each an invocation that reported the item failed.
            assert pool.invocations - before == 5
            assert mails(client, email) == []
    finally:
        ses.create_email_identity(EmailIdentity=sender)

    # Redrive, as docs/operations.md says: the dead letter goes back to the mail queue and is sent.
    sqs = mail_stack.aws.client("sqs")
    queues = mail_stack.info()["queues"]
    [dead] = sqs.receive_message(QueueUrl=queues["MailDeadLetterQueue"], MaxNumberOfMessages=10)["Messages"]
    assert email in dead["Body"]
    sqs.send_message(QueueUrl=queues["MailQueue"], MessageBody=dead["Body"])
    sqs.delete_message(QueueUrl=queues["MailDeadLetterQueue"], ReceiptHandle=dead["ReceiptHandle"])
    with Client(mail_stack.url) as client:
        [sent] = wait_for_mail(client, email, timeout=30)
    assert link_token(sent["text"], "/compte/confirmer")


def test_a_malformed_message_is_dead_lettered_not_sent(mail_stack):
    sqs = mail_stack.aws.client("sqs")
    queues = mail_stack.info()["queues"]
    wait_until(lambda: drained(mail_stack))
    dead_before = queue_counts(mail_stack, "MailDeadLetterQueue")[0]
    sqs.send_message(QueueUrl=queues["MailQueue"], MessageBody='{"to": "x@example.org"}')
    wait_until(lambda: queue_counts(mail_stack, "MailDeadLetterQueue")[0] == dead_before + 1)


def outbox_mail(created_ago: timedelta) -> tuple[str, str]:
    to = unique_email("receipt")
    mail_id = f"receipt-{uuid.uuid4().hex}"
    transact([mail.outbox_put(mail_id, to, "Votre reçu", "Paiement reçu : 12,50 €.", system_clock() - created_ago)])
    return mail_id, to


def test_an_outbox_mail_released_three_times_and_swept_is_sent_once(domain):
    mail_id, to = outbox_mail(timedelta(minutes=10))
    with Client(domain.url) as client:
        swept = client.post("/__local__/schedules/MailSweepFunction")
        assert swept.status_code == 200
        assert swept.json()["result"]["queued"] == 1
        for _ in range(3):
            mail.release(mail_id, to, "Votre reçu", "Paiement reçu : 12,50 €.")
        wait_for_mail(client, to)
        wait_until(lambda: drained(domain))
        assert [m["subject"] for m in mails(client, to)] == ["Votre reçu"]
    item = outbox.get(mail_id)
    assert item is not None
    assert (item["state"], item["attempts"]) == ("sent", 1)


def test_the_sweep_sends_an_outbox_mail_whose_release_was_lost(domain):
    lost, lost_to = outbox_mail(timedelta(minutes=10))
    recent, recent_to = outbox_mail(timedelta(seconds=5))
    with Client(domain.url) as client:
        assert client.post("/__local__/schedules/MailSweepFunction").json()["result"] == {"queued": 1}
        [sent] = wait_for_mail(client, lost_to)
        assert sent["text"] == "Paiement reçu : 12,50 €."
        wait_until(lambda: drained(domain))
        # Sent: out of the sweep's partition. The recent one is left to its own release, still to come.
        assert client.post("/__local__/schedules/MailSweepFunction").json()["result"] == {"queued": 0}
        assert mails(client, recent_to) == []
        mail.release(recent, recent_to, "Votre reçu", "Paiement reçu : 12,50 €.")
        wait_for_mail(client, recent_to)
        wait_until(lambda: drained(domain))
        assert len(mails(client, lost_to)) == 1 and len(mails(client, recent_to)) == 1
    assert outbox.get(lost)["state"] == "sent"  # type: ignore[index]


def test_an_address_ses_refuses_is_retried_then_dead_lettered_and_nothing_is_sent(domain):
    # Accepted by the request's validation today, refused by the local SES ("Missing domain" once parsed).
    wait_until(lambda: drained(domain))
    dead_before = queue_counts(domain, "MailDeadLetterQueue")[0]
    invocations = domain.pools["MailFunction"].invocations
    mail.send("a,b@x.fr", "Sujet", "Texte")
    wait_until(lambda: queue_counts(domain, "MailDeadLetterQueue")[0] == dead_before + 1)
    assert domain.pools["MailFunction"].invocations - invocations == mail.MAX_ATTEMPTS
    with Client(domain.url) as client:
        assert [m for m in mails(client) if m["to"] in ("a,b@x.fr", "a")] == []


def test_a_request_whose_mail_cannot_be_queued_still_answers_and_writes_whole(mail_stack):
    sqs = mail_stack.aws.client("sqs")
    queue_url = mail_stack.info()["queues"]["MailQueue"]
    email = unique_email("unqueued")
    sqs.delete_queue(QueueUrl=queue_url)
    try:
        with Client(mail_stack.url) as client:
            created = client.post("/api/accounts", json={"email": email})
        assert created.status_code == 202, created.text
        pending = stored_item(mail_stack, keys.email(email))
        assert pending is not None and not pending["confirmed"]
        assert stored_item(mail_stack, keys.token(pending["confirm_token"])) is not None
    finally:
        mail_stack.aws.create_queues(mail_stack.template, mail_stack.config.queue_attributes)
    log = mail_stack.log_path.read_text(encoding="utf-8")
    assert '"message":"mail not queued"' in log
    assert '"MailNotQueued":[1.0]' in log

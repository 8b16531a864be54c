"""Outgoing mail: requests put mails on a queue; the mail function sends them through SES, outbox mails once.

Two kinds of message travel on the queue (`MAIL_QUEUE_URL`):
- a plain mail (`send`): the message holds the mail itself; a confirmation link or a notice, which the
  person can ask for again, so it needs no record;
- an outbox mail (`outbox_put` in the caller's transaction, then `release`): a mail a state change decided
  (a payment receipt). The message holds only its id; the mail function claims the outbox item, sends what
  it holds and marks it sent, so a repeated message or the sweep's copy sends nothing more.

Nothing here raises into a request: a mail that cannot be queued is logged and counted (metric
`MailNotQueued`); an outbox mail is then sent by the sweep.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from espace_famille import aws
from espace_famille.clock import epoch, iso
from espace_famille.config import settings
from espace_famille.dal import outbox
from espace_famille.observability import logger, metrics

# As many sends as the queue's maxReceiveCount: after that, the mail waits in the dead-letter queue.
MAX_ATTEMPTS = 5
# Longer than the mail function's timeout: a live sender never loses its claim.
LEASE = timedelta(minutes=2)
# What the sweep leaves to the caller's own release before re-sending it.
SWEEP_AFTER = timedelta(minutes=2)
SWEEP_LIMIT = 500
# A sent outbox item is kept this long (what was sent, and when), then collected by TTL.
SENT_KEPT = timedelta(days=90)


class BadMessage(ValueError):
    """A queue message that is not one of ours: it goes to the dead-letter queue for a person to look at."""


@dataclass(frozen=True)
class Message:
    mail_id: str
    outbox: bool
    to: str = ""
    subject: str = ""
    text: str = ""

    def body(self) -> str:
        if self.outbox:
            return json.dumps({"id": self.mail_id, "outbox": True})
        return json.dumps({"id": self.mail_id, "to": self.to, "subject": self.subject, "text": self.text})


def parse_message(body: str) -> Message:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadMessage("not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise BadMessage("no mail id")
    if data.get("outbox") is True:
        return Message(data["id"], outbox=True)
    to, subject, text = (data.get(k) for k in ("to", "subject", "text"))
    if not (isinstance(to, str) and isinstance(subject, str) and isinstance(text, str) and to and subject and text):
        raise BadMessage("a plain mail needs to, subject and text")
    return Message(data["id"], False, to, subject, text)


# -- the request side -------------------------------------------------------------------------------------
def send(to: str, subject: str, text: str) -> None:
    """Queues a mail that needs no record (a link the person can ask for again); never raises."""
    _enqueue(Message(uuid.uuid4().hex, False, to, subject, text))


def outbox_put(mail_id: str, to: str, subject: str, text: str, now: datetime) -> dict[str, Any]:
    """The TransactWriteItems element recording a mail decided by the same transaction (unique `mail_id`).

    Once the transaction has committed, call `release` with the same mail; if that is lost, the sweep
    queues it a few minutes later.
    """
    return outbox.put_element(mail_id, to, subject, text, iso(now))


def release(mail_id: str, to: str, subject: str, text: str) -> None:
    """Queues an outbox mail after its transaction committed; never raises.

    The message carries only the id: the mail function sends what the outbox item holds, which is the mail
    given here; the address and the text stay in the table.
    """
    _enqueue(Message(mail_id, outbox=True))


def _enqueue(message: Message) -> bool:
    try:
        aws.client("sqs").send_message(QueueUrl=settings().mail_queue_url, MessageBody=message.body())
    except Exception:  # a request never fails because of a mail
        logger.exception("mail not queued", extra={"mail_id": message.mail_id, "outbox": message.outbox})
        # Not even because of its metric (Powertools raises on a flush without a namespace).
        with contextlib.suppress(Exception):
            metrics.add_metric(name="MailNotQueued", unit=MetricUnit.Count, value=1)
        return False
    return True


# -- the mail function --------------------------------------------------------------------------------------
def deliver(body: str, now: datetime) -> str:
    """Sends the mail of one queue message: "sent", or "skipped" for an outbox mail already sent or held.

    Raises when the mail could not be sent: the message stays on the queue and comes back.
    """
    message = parse_message(body)
    if not message.outbox:
        _ses_send(message.to, message.subject, message.text)
        logger.info("mail sent", extra={"mail_id": message.mail_id, "subject": message.subject})
        return "sent"
    token = uuid.uuid4().hex
    item = outbox.claim(message.mail_id, token, iso(now), iso(now + LEASE))
    if item is None:
        # Sent already, being sent by another delivery, or never stored (its transaction failed).
        logger.info("outbox mail skipped", extra={"mail_id": message.mail_id})
        metrics.add_metric(name="MailSkipped", unit=MetricUnit.Count, value=1)
        return "skipped"
    try:
        _ses_send(item["to"], item["subject"], item["text"])
    except Exception:
        outbox.unclaim(message.mail_id, token, item["created_at"], give_up=int(item["attempts"]) >= MAX_ATTEMPTS)
        raise
    if not outbox.mark_sent(message.mail_id, token, iso(now), epoch(now + SENT_KEPT)):
        logger.warning("outbox mail sent after its lease expired", extra={"mail_id": message.mail_id})
    logger.info("mail sent", extra={"mail_id": message.mail_id, "subject": item["subject"]})
    return "sent"


def _ses_send(to: str, subject: str, text: str) -> None:
    aws.client("sesv2").send_email(
        FromEmailAddress=settings().mail_from,
        Destination={"ToAddresses": [to]},
        Content={
            "Simple": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
            }
        },
    )
    # The address is personal data and the text may hold a secret link: neither goes to the log.
    metrics.add_metric(name="MailSent", unit=MetricUnit.Count, value=1)


# -- the sweep ----------------------------------------------------------------------------------------------
def sweep(now: datetime) -> int:
    """Queues again the outbox mails still unsent some minutes after they were stored; returns how many."""
    queued = 0
    for item in outbox.unsent_before(iso(now - SWEEP_AFTER), SWEEP_LIMIT):
        queued += _enqueue(Message(item["mail_id"], outbox=True))
    if queued:
        logger.info("outbox mails queued again", extra={"count": queued})
        metrics.add_metric(name="MailSwept", unit=MetricUnit.Count, value=queued)
    return queued

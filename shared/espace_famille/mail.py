"""Outgoing mail through SES (sesv2): the sender comes from configuration, the texts from accounts.py."""

from __future__ import annotations

from espace_famille import aws
from espace_famille.config import settings
from espace_famille.observability import logger


def send(to: str, subject: str, text: str) -> None:
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
    # The address is personal data and the text holds a secret link: neither goes to the log.
    logger.info("mail sent", extra={"subject": subject})

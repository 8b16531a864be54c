"""Outgoing mail through SES (sesv2): the sender comes from configuration, the texts from accounts.py."""

from __future__ import annotations

from typing import Any

import boto3

from espace_famille.config import settings
from espace_famille.observability import logger

_ses: Any = None


def _client() -> Any:
    global _ses
    if _ses is None:
        _ses = boto3.client("sesv2")
    return _ses


def send(to: str, subject: str, text: str) -> None:
    _client().send_email(
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

"""The pure parts of mail: queue messages, and how the local stack reads an SQS batch's answer."""

from __future__ import annotations

import json

import pytest

from espace_famille.mail import BadMessage, Message, parse_message
from infra.local.stack import failed_message_ids, sqs_event


def test_plain_and_outbox_messages_round_trip():
    plain = Message("m1", False, "a@example.org", "Sujet", "Texte")
    assert parse_message(plain.body()) == plain
    boxed = Message("receipt-1", outbox=True)
    assert parse_message(boxed.body()) == boxed
    # An outbox message carries the id only: the address and the text stay in the table.
    assert json.loads(boxed.body()) == {"id": "receipt-1", "outbox": True}


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        "{}",
        '{"id": ""}',
        '{"id": 3, "outbox": true}',
        '{"id": "m", "to": "a@example.org", "subject": "s"}',
        '{"id": "m", "to": "a@example.org", "subject": "s", "text": 1}',
        '{"id": "m", "outbox": "yes"}',
    ],
)
def test_what_is_not_one_of_our_messages_is_refused(body):
    with pytest.raises(BadMessage):
        parse_message(body)


def received(*ids: str) -> list[dict]:
    return [
        {
            "MessageId": i,
            "ReceiptHandle": f"rh-{i}",
            "Body": f"body-{i}",
            "MD5OfBody": "md5",
            "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "SenderId": "AID", "Other": "x"},
            "MessageAttributes": {"kind": {"StringValue": "plain", "DataType": "String"}},
        }
        for i in ids
    ]


def test_sqs_event_has_the_shape_lambda_sends():
    event = sqs_event("arn:aws:sqs:eu-west-3:123456789012:q", received("a", "b"))
    first = event["Records"][0]
    assert [r["messageId"] for r in event["Records"]] == ["a", "b"]
    assert (first["receiptHandle"], first["body"], first["md5OfBody"]) == ("rh-a", "body-a", "md5")
    assert first["attributes"] == {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "SenderId": "AID"}
    assert first["messageAttributes"]["kind"]["stringValue"] == "plain"
    assert (first["eventSource"], first["eventSourceARN"]) == ("aws:sqs", "arn:aws:sqs:eu-west-3:123456789012:q")


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({}, set()),
        (None, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        # What Lambda cannot read fails the whole batch.
        ({"batchItemFailures": [{"itemIdentifier": "zz"}]}, {"a", "b", "c"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b", "c"}),
        ({"batchItemFailures": [{"id": "a"}]}, {"a", "b", "c"}),
        ({"batchItemFailures": "a"}, {"a", "b", "c"}),
        ("ok", {"a", "b", "c"}),
    ],
)
def test_failed_items_are_read_as_lambda_reads_them(result, failed):
    assert failed_message_ids(result, received("a", "b", "c"), report_failures=True) == failed


def test_without_partial_failures_any_answer_is_success():
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, received("a"), False) == set()

"""The authorizer's own DynamoDB client signs exactly as botocore does, and reads what DynamoDB answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from espace_famille.dal import wire

NOW = datetime(2026, 11, 27, 19, 45, 7, tzinfo=UTC)


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////wEaDOPs+session/token=="])
@pytest.mark.parametrize(
    ("url", "region"),
    [("https://dynamodb.eu-west-3.amazonaws.com", "eu-west-3"), ("http://127.0.0.1:45123", "eu-west-3")],
)
def test_signature_is_botocores(url, region, token):
    body = json.dumps({"TableName": "t", "Key": {"PK": {"S": "SESSION#é"}, "SK": {"S": "SESSION"}}}).encode()
    host = url.split("://", 1)[1]
    credentials = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    ours = wire.signed_headers(host, "DynamoDB_20120810.GetItem", body, NOW, credentials, region)

    request = AWSRequest(
        method="POST", url=url + "/", data=body, headers={k: v for k, v in ours.items() if k != "authorization"}
    )
    request.context["timestamp"] = NOW.strftime("%Y%m%dT%H%M%SZ")
    signer = SigV4Auth(Credentials(*credentials), "dynamodb", region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert ours["authorization"].endswith(f"Signature={expected}")
    assert f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}," in ours["authorization"]


def test_endpoint_follows_boto3s_variables(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert wire.endpoint() == "https://dynamodb.eu-west-3.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert wire.endpoint() == "http://127.0.0.1:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2")
    assert wire.endpoint() == "http://127.0.0.1:2"


def test_errors_and_items_against_moto(table):
    from espace_famille.dal import session_check
    from espace_famille.sessions import SessionTimes

    assert session_check.find("absent") is None
    with pytest.raises(wire.DynamoDBError) as caught:
        wire.call("GetItem", {"TableName": "no-such-table", "Key": {"PK": {"S": "x"}, "SK": {"S": "y"}}})
    assert caught.value.code == "ResourceNotFoundException"
    assert caught.value.status == 400
    # A condition that fails is a False, not an error.
    gone = session_check.StoredSession("absent", "acc", SessionTimes.start(NOW))
    assert session_check.slide(gone, gone.times.touched(NOW), NOW) is False

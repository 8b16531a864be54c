"""The request path's own AWS client (dal.wire) signs exactly as botocore does, retries as its standard mode
does, and reads what DynamoDB answers."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from espace_famille.dal import wire

NOW = datetime(2026, 11, 27, 19, 45, 7, tzinfo=UTC)


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////wEaDOPs+session/token=="])
@pytest.mark.parametrize("service", ["dynamodb", "sqs"])
@pytest.mark.parametrize(
    ("url", "region"),
    [("https://dynamodb.eu-west-3.amazonaws.com", "eu-west-3"), ("http://127.0.0.1:45123", "eu-west-3")],
)
def test_signature_is_botocores(url, region, token, service):
    body = json.dumps({"TableName": "t", "Key": {"PK": {"S": "SESSION#é"}, "SK": {"S": "SESSION"}}}).encode()
    host = url.split("://", 1)[1]
    credentials = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    target = wire.TARGET_PREFIXES[service] + "GetItem"
    ours = wire.signed_headers(host, target, body, NOW, credentials, region, service)

    request = AWSRequest(
        method="POST", url=url + "/", data=body, headers={k: v for k, v in ours.items() if k != "authorization"}
    )
    request.context["timestamp"] = NOW.strftime("%Y%m%dT%H%M%SZ")
    signer = SigV4Auth(Credentials(*credentials), service, region)
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
    with pytest.raises(wire.AwsError) as caught:
        wire.call("GetItem", {"TableName": "no-such-table", "Key": {"PK": {"S": "x"}, "SK": {"S": "y"}}})
    assert caught.value.code == "ResourceNotFoundException"
    assert caught.value.status == 400
    # A condition that fails is a False, not an error.
    gone = session_check.StoredSession("absent", "acc", SessionTimes.start(NOW))
    assert session_check.slide(gone, gone.times.touched(NOW), NOW) is False


class Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each POST with the next (status, body) of `script`, and notes what it was sent."""

    protocol_version = "HTTP/1.1"  # keep-alive, as DynamoDB
    script: ClassVar[list[tuple[int, dict[str, Any]]]] = []
    seen: ClassVar[list[dict[str, Any]]] = []
    hang_up: ClassVar[bool] = False  # close each connection after answering, without saying so

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append({"headers": dict(self.headers), "body": json.loads(body), "port": self.client_address[1]})
        status, answer = self.script.pop(0)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = self.hang_up

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_SDK_UA_APP_ID", "InvoicesFunction")
    sleeps: list[float] = []
    monkeypatch.setattr(wire.time, "sleep", sleeps.append)
    Scripted.script, Scripted.seen, Scripted.hang_up = [], [], False
    wire.close_connections()
    yield Scripted, sleeps
    wire.close_connections()
    server.shutdown()
    server.server_close()


THROTTLED = (400, {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"})
INTERNAL = (500, {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "oops"})


def test_throttling_and_5xx_are_retried_with_the_same_transaction_token(scripted):
    server, sleeps = scripted
    server.script = [THROTTLED, INTERNAL, (200, {})]
    assert wire.call("TransactWriteItems", {"TransactItems": []}) == {}
    tokens = {seen["body"]["ClientRequestToken"] for seen in server.seen}
    assert len(server.seen) == 3 and len(tokens) == 1  # one token, resent: DynamoDB answers a retried success
    assert len(sleeps) == 2 and all(0 <= s <= wire.MAX_BACKOFF_SECONDS for s in sleeps)
    # One kept-alive connection served the three attempts; the caller is named as boto3 would name it.
    assert len({seen["port"] for seen in server.seen}) == 1
    assert server.seen[0]["headers"]["user-agent"].endswith(" app/InvoicesFunction")
    assert server.seen[0]["headers"]["x-amz-target"] == "DynamoDB_20120810.TransactWriteItems"


def test_retries_stop_after_five_attempts(scripted):
    server, sleeps = scripted
    server.script = [THROTTLED] * 6
    with pytest.raises(wire.AwsError) as caught:
        wire.call("GetItem", {"TableName": "t", "Key": {}})
    assert (caught.value.code, caught.value.status) == ("ThrottlingException", 400)
    assert len(server.seen) == wire.MAX_ATTEMPTS == 5 and len(sleeps) == 4


def test_a_client_error_is_not_retried_and_carries_the_cancellation_reasons(scripted):
    server, sleeps = scripted
    cancelled = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled",
        "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "failed"}],
    }
    server.script = [(400, cancelled)]
    with pytest.raises(wire.AwsError) as caught:
        wire.Client("dynamodb").transact_write_items(TransactItems=[])
    assert caught.value.code == "TransactionCanceledException"
    assert caught.value.message == "Transaction cancelled"
    assert caught.value.cancellation_reasons == ["None", "ConditionalCheckFailed"]
    assert len(server.seen) == 1 and sleeps == []


def test_sqs_speaks_the_same_protocol(scripted):
    server, _ = scripted
    server.script = [(200, {"MessageId": "m-1"})]
    answer = wire.Client("sqs").send_message(QueueUrl="http://q/1/mail", MessageBody="{}")
    assert answer == {"MessageId": "m-1"}
    assert server.seen[0]["headers"]["x-amz-target"] == "AmazonSQS.SendMessage"
    assert "/sqs/aws4_request" in server.seen[0]["headers"]["authorization"]
    assert server.seen[0]["body"] == {"QueueUrl": "http://q/1/mail", "MessageBody": "{}"}


def test_no_answer_at_all_is_our_error_after_every_attempt(monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    sleeps: list[float] = []
    monkeypatch.setattr(wire.time, "sleep", sleeps.append)
    with pytest.raises(wire.AwsError) as caught:
        wire.call("GetItem", {"TableName": "t", "Key": {}})
    assert (caught.value.code, caught.value.status) == ("ConnectionError", 0)
    assert len(sleeps) == wire.MAX_ATTEMPTS - 1


def test_binary_values_travel_in_base64(scripted):
    server, _ = scripted
    server.script = [(200, {"Item": {"PK": {"S": "x"}, "blob": {"B": "AAEC"}}})]
    item = wire.call("PutItem", {"TableName": "t", "Item": {"blob": {"B": b"\x00\x01\x02"}}})
    assert server.seen[0]["body"]["Item"]["blob"] == {"B": "AAEC"}
    from espace_famille.dal.table import from_ddb

    assert from_ddb(item["Item"]) == {"PK": "x", "blob": b"\x00\x01\x02"}


def test_a_connection_the_server_closed_meanwhile_is_replaced_without_a_retry(scripted):
    server, sleeps = scripted
    server.hang_up = True  # as DynamoDB closes idle connections while a Lambda environment is frozen
    server.script = [(200, {"Item": {"PK": {"S": "a"}}}), (200, {})]
    assert wire.call("GetItem", {"TableName": "t", "Key": {}}) == {"Item": {"PK": {"S": "a"}}}
    threading.Event().wait(0.1)  # the server's close reaches us (time.sleep is the fixture's)
    assert wire.call("GetItem", {"TableName": "t", "Key": {}}) == {}
    assert len(server.seen) == 2 and sleeps == []  # no attempt lost, no backoff
    assert server.seen[0]["port"] != server.seen[1]["port"]

"""The local API Gateway, against a fixture template: routing, authorizer, events, results, workers, S3."""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import running_stack

FIXTURE = Path(__file__).with_name("fixture")

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack():
    with running_stack(template_path=FIXTURE / "template.yaml", load_demo=False) as (stack, log):
        yield stack, log


@pytest.fixture
def http(stack):
    with httpx.Client(base_url=stack[0].url, timeout=30) as client:
        yield client


def echoed(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()["event"]


def test_path_parameters_and_route_key(http):
    event = echoed(http.get("/items/42", headers={"cookie": "allow=alice"}))
    assert event["pathParameters"] == {"id": "42"}
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/42"
    assert event["version"] == "2.0"


def test_literal_route_wins_over_parameter(http):
    # /items/special is public and literal; /items/{id} needs the authorizer.
    event = echoed(http.get("/items/special"))
    assert event["routeKey"] == "GET /items/special"
    assert "pathParameters" not in event


def test_several_path_parameters_and_greedy(http):
    event = echoed(http.post("/public/x%20y/sub/z", content=b"{}", headers={"content-type": "application/json"}))
    assert event["pathParameters"] == {"a": "x y", "b": "z"}
    event = echoed(http.get("/files/a/b/c.txt"))
    assert event["pathParameters"] == {"path": "a/b/c.txt"}
    assert event["routeKey"] == "GET /files/{path+}"


def test_any_method_route(http):
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        event = echoed(http.request(method, "/public"))
        assert event["requestContext"]["http"]["method"] == method
        assert event["routeKey"] == "ANY /public"


def test_unknown_route_and_wrong_method_are_404(http):
    for method, path in (("GET", "/nowhere"), ("DELETE", "/items/1"), ("GET", "/public/a/sub/b")):
        response = http.request(method, path, headers={"cookie": "allow=x"})
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}


def test_no_cookie_is_401_without_calling_the_authorizer(http, stack):
    pool = stack[0].pools["AuthzFunction"]
    before = pool.invocations
    response = http.get("/items/1")
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert pool.invocations == before
    assert http.get("/items/1", headers={"cookie": "allow=x"}).status_code == 200
    assert pool.invocations == before + 1


def test_deny_is_403(http):
    response = http.get("/items/1", headers={"cookie": "nope=1"})
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_authorizer_failure_is_500(http):
    response = http.get("/items/1", headers={"cookie": "boom=1"})
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_allow_passes_context_to_handler(http):
    event = echoed(http.get("/items/7", headers={"cookie": "allow=alice; other=2"}))
    assert event["requestContext"]["authorizer"] == {"lambda": {"who": "alice", "identity": ["allow=alice; other=2"]}}


def test_public_route_skips_the_authorizer(http):
    event = echoed(http.get("/public", headers={"cookie": "boom=1"}))
    assert "authorizer" not in event["requestContext"]


def test_event_fields(http):
    response = http.get(
        "/public?b=2&a=1&a=3&empty=",
        headers={"X-Custom": "one", "User-Agent": "tests/1.0", "Cookie": "c1=v1; c2=v2"},
    )
    event = echoed(response)
    assert event["rawQueryString"] == "b=2&a=1&a=3&empty="
    assert event["queryStringParameters"] == {"b": "2", "a": "1,3", "empty": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-custom"] == "one"
    assert all(k == k.lower() for k in event["headers"])
    ctx = event["requestContext"]
    assert ctx["http"]["sourceIp"] == "127.0.0.1"
    assert ctx["http"]["userAgent"] == "tests/1.0"
    assert ctx["http"]["path"] == "/public"
    assert ctx["stage"] == "$default"
    assert ctx["requestId"] == response.headers["apigw-requestid"]
    assert abs(ctx["timeEpoch"] / 1000 - time.time()) < 60
    assert ctx["time"].endswith("+0000")
    assert event["isBase64Encoded"] is False
    assert "body" not in event


def test_text_and_binary_bodies(http):
    event = echoed(http.post("/public", content='{"é": 1}'.encode(), headers={"content-type": "application/json"}))
    assert event["body"] == '{"é": 1}'
    assert event["isBase64Encoded"] is False
    raw = bytes(range(256))
    event = echoed(http.post("/public", content=raw, headers={"content-type": "application/octet-stream"}))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw
    form = echoed(
        http.post("/public", content=b"idop=abc", headers={"content-type": "application/x-www-form-urlencoded"})
    )
    assert form["isBase64Encoded"] is True
    assert base64.b64decode(form["body"]) == b"idop=abc"


def test_base64_result_is_decoded(http):
    response = http.post("/binary", content=b"\x00\x01\xff", headers={"content-type": "application/octet-stream"})
    assert response.status_code == 200
    assert response.content == b"\xff\x01\x00"
    assert response.headers["x-was-base64"] == "True"


def test_cookies_both_ways_and_headers(http):
    response = http.get("/public", headers={"cookie": "in=1"})
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert response.headers["x-who"] == "echo"
    assert response.json()["event"]["cookies"] == ["in=1"]


def test_handler_exception_is_500_with_trace_in_log(http, stack):
    response = http.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    log = stack[1].read_text(encoding="utf-8")
    assert "the handler exploded on purpose" in log
    assert "Traceback" in log


def test_dict_result_is_a_200_json(http):
    response = http.get("/env")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


def test_functions_have_their_own_environment(http):
    env = http.get("/env").json()
    assert env == {"WHO": "env", "SHARED": "from-globals", "GREETING": "bonjour", "BUCKET": "fixture-eu-west-3"}
    echo = http.get("/public")
    assert echo.headers["x-who"] == "echo"


def test_layer_and_context_reach_the_handler(http):
    body = http.get("/public").json()
    assert body["layer"] == "from-layer"
    assert 0 < body["remaining_ms"] <= 5000
    assert body["request_id"]


def test_module_state_is_kept_between_requests(http):
    first = http.get("/public").json()["calls"]
    second = http.get("/public").json()["calls"]
    assert second == first + 1


def test_concurrent_requests_run_in_separate_workers(stack):
    results: list[dict] = []

    def call() -> None:
        with httpx.Client(base_url=stack[0].url, timeout=30) as client:
            results.append(client.get("/sleep", params={"s": "2"}).json())

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert len({r["pid"] for r in results}) == 4
    # All four were inside the handler at the same moment.
    assert max(r["started"] for r in results) < min(r["ended"] for r in results)
    assert stack[0].pools["SleepFunction"].started <= 4


def test_s3_put_under_prefix_fires_the_function(stack):
    s3 = stack[0].aws.client("s3")
    bucket = "fixture-eu-west-3"
    s3.put_object(Bucket=bucket, Key="incoming/hello world.csv", Body=b"x")
    s3.put_object(Bucket=bucket, Key="elsewhere/ignored.csv", Body=b"x")
    deadline = time.monotonic() + 20
    record = None
    while time.monotonic() < deadline:
        try:
            record = json.loads(s3.get_object(Bucket=bucket, Key="seen/hello world.csv")["Body"].read())
            break
        except s3.exceptions.NoSuchKey:
            time.sleep(0.1)
    assert record is not None, "the S3-triggered function did not run"
    assert record["eventSource"] == "aws:s3"
    assert record["s3"]["bucket"]["name"] == bucket
    assert record["s3"]["object"]["key"] == "incoming/hello+world.csv"
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="seen/")
    assert [o["Key"] for o in listing["Contents"]] == ["seen/hello world.csv"]


def test_adding_a_route_to_the_template_is_all_it_takes(tmp_path):
    copy = tmp_path / "fixture"
    shutil.copytree(FIXTURE, copy)
    template = copy / "template.yaml"
    text = template.read_text()
    text = text.replace(
        "        Env:\n          Type: HttpApi\n",
        "        Added:\n          Type: HttpApi\n"
        '          Properties: {ApiId: !Ref Api, Path: "/brand/new/{x}", Method: GET, Auth: {Authorizer: NONE}}\n'
        "        Env:\n          Type: HttpApi\n",
    )
    template.write_text(text)
    with running_stack(template_path=template, load_demo=False) as (stack, _log):
        response = httpx.get(stack.url + "/brand/new/route", timeout=30)
        assert response.status_code == 200
        assert response.json()["WHO"] == "env"


def test_schedule_fires_on_demand(http):
    response = http.post("/__local__/schedules/TickFunction")
    assert response.status_code == 200
    body = response.json()
    assert body["function"] == "TickFunction"
    assert body["result"]["source"] == "aws.events"
    assert body["result"]["detail_type"] == "Scheduled Event"
    assert http.post("/__local__/schedules/EveryMinute").json()["function"] == "TickFunction"
    assert http.post("/__local__/schedules/Nobody").status_code == 404


def test_schedule_command(stack, tmp_path):
    import subprocess
    import sys

    state = tmp_path / "stack.json"
    state.write_text(json.dumps(stack[0].info()))
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "schedule", "TickFunction", "--state-file", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"]["source"] == "aws.events"
    missing = subprocess.run(
        [sys.executable, "-m", "infra.cli", "schedule", "TickFunction", "--state-file", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0
    assert "make run" in missing.stderr


def test_rate_expressions():
    from infra.local.stack import _rate_seconds

    assert _rate_seconds("rate(1 minute)") == 60
    assert _rate_seconds("rate(5 minutes)") == 300
    assert _rate_seconds("rate(2 hours)") == 7200
    assert _rate_seconds("cron(0 12 * * ? *)") is None


@pytest.mark.parametrize("server", ["gateway", "payfip emulator"])
def test_accepted_connections_have_nagle_off(stack, server):
    """TCP_NODELAY on what the servers accept: else Nagle and delayed ACK hold each answer ~40 ms."""
    import socket
    from urllib.parse import urlsplit

    local = stack[0]
    served = local if server == "gateway" else local.payfip_server
    address = urlsplit(served.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as ours:
        ours.sendall(b"GET /items/special HTTP/1.1\r\nHost: x\r\n\r\n")
        assert ours.recv(65536).startswith(b"HTTP/1.1 ")  # any answer: the connection stays open
        accepted = [s for s in served.open_connections() if s.getpeername() == ours.getsockname()]
        assert len(accepted) == 1
        assert accepted[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_sqs_batches_delete_what_succeeded_and_dead_letter_what_kept_failing(stack):
    local = stack[0]
    sqs, s3 = local.aws.client("sqs"), local.aws.client("s3")
    queues = local.info()["queues"]
    assert queues["Jobs"].endswith("/123456789012/fixture-jobs")
    sqs.send_message_batch(
        QueueUrl=queues["Jobs"], Entries=[{"Id": "1", "MessageBody": "ok-1"}, {"Id": "2", "MessageBody": "fail-1"}]
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        dead = sqs.get_queue_attributes(QueueUrl=queues["DeadJobs"], AttributeNames=["ApproximateNumberOfMessages"])
        if dead["Attributes"]["ApproximateNumberOfMessages"] == "1":
            break
        time.sleep(0.2)
    [letter] = sqs.receive_message(QueueUrl=queues["DeadJobs"], MaxNumberOfMessages=10)["Messages"]
    # The failed item came back after the visibility timeout, then went to the dead-letter queue after
    # maxReceiveCount (2) receives; the succeeded one was deleted, so it never came back to get there.
    assert letter["Body"] == "fail-1"
    seen = {o["Key"] for o in s3.list_objects_v2(Bucket="fixture-eu-west-3", Prefix="sqs/")["Contents"]}
    assert {"sqs/ok-1/1", "sqs/fail-1/1", "sqs/fail-1/2"} <= seen
    assert not any(k.startswith("sqs/fail-1/") for k in seen - {"sqs/fail-1/1", "sqs/fail-1/2"})
    main = sqs.get_queue_attributes(
        QueueUrl=queues["Jobs"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert (main["ApproximateNumberOfMessages"], main["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    record = json.loads(s3.get_object(Bucket="fixture-eu-west-3", Key="sqs/ok-1/1")["Body"].read())
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:eu-west-3:123456789012:fixture-jobs"
    assert record["receiptHandle"] and record["md5OfBody"]

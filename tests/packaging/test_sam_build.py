"""Packaging: `sam build` succeeds; every built function imports, then handles an event, as Lambda runs it."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from espace_famille.importer.s3 import report_key
from infra.cfn import LOCAL_REGION, Template, load_template, load_yaml
from infra.local.aws import LocalAws
from infra.local.gateway import build_event
from infra.local.stack import s3_event, scheduled_event, sqs_event
from infra.local.workers import WORKER_SCRIPT, lambda_environment
from tests.support import ROOT

pytestmark = pytest.mark.packaging

RUNTIME_PYTHON = "python3.13"
# Only these functions verify or set passwords; every other one must start without argon2.
PASSWORD_FUNCTIONS = {"AccountsFunction", "SessionFunction"}


def _sam() -> str:
    sam = os.environ.get("SAM") or str(ROOT / ".venv-sam" / "bin" / "sam")
    if not Path(sam).exists():
        pytest.fail(f"aws-sam-cli is missing ({sam}): run `make sam-venv`")
    return sam


def _runtime_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYENV_VERSION", "3.11.7:3.12.1:3.13.0")
    env.setdefault("AWS_DEFAULT_REGION", "eu-west-3")
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def _runtime_python() -> str:
    """The real interpreter of the Lambda runtime's version (resolved through pyenv's shim if need be)."""
    env = _runtime_env()
    if shutil.which("pyenv"):
        probe = subprocess.run(["pyenv", "which", RUNTIME_PYTHON], env=env, capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip():
            return probe.stdout.strip()
    found = shutil.which(RUNTIME_PYTHON)
    assert found, f"{RUNTIME_PYTHON} is not available: install it (pyenv install 3.13) and set PYENV_VERSION"
    return found


def _local_architecture() -> str:
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam-build")
    result = subprocess.run(
        [
            _sam(),
            "build",
            "--template",
            str(ROOT / "template.yaml"),
            "--build-dir",
            str(build_dir),
            "--parameter-overrides",
            f"Architecture={_local_architecture()}",
        ],
        cwd=ROOT,
        env=_runtime_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return build_dir


def test_layer_is_built_for_the_local_architecture(built):
    layer = built / "SharedLayer" / "python"
    assert (layer / "espace_famille" / "__init__.py").exists()
    compiled = list(layer.glob("pydantic_core/_pydantic_core*.so"))
    assert compiled, "pydantic_core's compiled module is missing from the layer"
    assert "cpython-313" in compiled[0].name
    machine = "aarch64" if _local_architecture() == "arm64" else "x86_64"
    assert machine in compiled[0].name


def test_every_built_function_imports_with_its_layer(built):
    runtime = _runtime_python()
    template = load_yaml(built / "template.yaml")
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions
    layer = built / "SharedLayer" / "python"
    # Each function checks its settings when it loads: it gets the ones the template gives it.
    deployed = load_template(ROOT / "template.yaml", {"SiteUrl": "https://portail.example"}).functions
    probe_code = (
        "import importlib, json, sys\n"
        "module, func = sys.argv[1].rsplit('.', 1)\n"
        "handler = getattr(importlib.import_module(module), func)\n"
        "print(json.dumps({'callable': callable(handler), 'argon2': 'argon2' in sys.modules,"
        " 'version': list(sys.version_info[:2])}))\n"
    )
    for logical_id, resource in functions.items():
        props = resource["Properties"]
        code_dir = built / props["CodeUri"]
        child_env = {
            **{k: str(v) for k, v in deployed[logical_id].environment.items()},
            "PATH": os.environ["PATH"],
            "AWS_DEFAULT_REGION": "eu-west-3",
            "AWS_REGION": "eu-west-3",
            "TABLE_NAME": "packaging-test",
            "POWERTOOLS_SERVICE_NAME": "espace-famille",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONNOUSERSITE": "1",
        }
        # -I: nothing of the dev venv or the environment on the path, only the code and the built layer.
        path_setup = f"import sys; sys.path[:0] = {[str(code_dir), str(layer)]!r}\n"
        result = subprocess.run(
            [runtime, "-I", "-c", path_setup + probe_code, props.get("Handler", "app.handler")],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(code_dir),
        )
        assert result.returncode == 0, f"{logical_id}: {result.stderr[-3000:]}"
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["callable"], logical_id
        assert report["version"] == [3, 13], logical_id
        if logical_id not in PASSWORD_FUNCTIONS:
            assert not report["argon2"], f"{logical_id} imports argon2 but hashes no password"


def test_payfip_adapter_works_from_the_built_layer(built):
    """eopayment's WSDL and XSD files are in the layer, and zeep and lxml load under the runtime's Python."""
    layer = built / "SharedLayer" / "python"
    assert (layer / "eopayment" / "resource" / "PaiementSecuriseService.wsdl").exists()
    compiled = list(layer.glob("lxml/etree*.so"))
    assert compiled and "cpython-313" in compiled[0].name
    probe = (
        f"import sys; sys.path[:0] = [{str(layer)!r}]\n"
        "from espace_famille.payfip import PayfipClient, PayfipEndpoints, objet_for\n"
        "client = PayfipClient(PayfipEndpoints('http://127.0.0.1:9/tpa/services/securite', 'http://p/x'))\n"
        "print(client.page_url('abc'), objet_for('Régie été', ['2017-WI-00-9710']))\n"
    )
    result = subprocess.run(
        [_runtime_python(), "-I", "-c", probe],
        env={"PATH": os.environ["PATH"], "PYTHONNOUSERSITE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "http://p/x?idop=abc Regie ete 2017 WI 00 9710"


def _event_for(tpl: Template, logical_id: str, aws: LocalAws) -> tuple[str, dict[str, Any]]:
    """A representative event of the function's trigger: (trigger kind, event)."""
    if logical_id in tpl.authorizer_identity:
        route = next(r for r in tpl.routes if r.authorizer == logical_id)
        scope = _scope(route.method if route.method != "ANY" else "GET", route.path, [(b"cookie", b"sid=nope")])
        event = build_event(scope, b"", route, {})
        event.update({"type": "REQUEST", "routeArn": f"arn:aws:execute-api:{LOCAL_REGION}:1:api/$default/x"})
        event["identitySource"] = ["sid=nope"]
        event["headers"]["cookie"] = "sid=nope"
        return "authorizer", event
    routes = [r for r in tpl.routes if r.function == logical_id]
    if routes:
        route = next((r for r in routes if r.method == "GET" and "{" not in r.path), routes[0])
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        body = b"" if route.method == "GET" else b"{}"
        scope = _scope(route.method, path, [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")])
        params = {m.group(1): "x" for m in re.finditer(r"\{([^}+]+)\+?\}", route.path)}
        return "http", build_event(scope, body, route, params)
    s3_triggers = [t for t in tpl.s3_triggers if t.function == logical_id]
    if s3_triggers:
        trigger = s3_triggers[0]
        s3 = aws.client("s3")
        key = f"{trigger.prefix}packaging/parents.jsonl"
        s3.put_object(
            Bucket=trigger.bucket, Key=key, Body=(ROOT / "infra" / "demo" / "01-jolieville.jsonl").read_bytes()
        )
        obj = s3.list_objects_v2(Bucket=trigger.bucket, Prefix=key)["Contents"][0]
        return "s3", s3_event(trigger, key, obj)
    sqs_triggers = [t for t in tpl.sqs_triggers if t.function == logical_id]
    if sqs_triggers:
        sqs = aws.client("sqs")
        url = tpl.queue_url(sqs_triggers[0].queue)
        message = json.dumps({"id": "packaging-1", "to": "parent@example.org", "subject": "Test", "text": "Bonjour"})
        sqs.send_message(QueueUrl=url, MessageBody=message)
        received = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"])
        return "sqs", sqs_event(tpl.get_att(sqs_triggers[0].queue, "Arn"), received["Messages"])
    schedules = [s for s in tpl.schedules if s.function == logical_id]
    assert schedules, f"{logical_id}: no trigger this test knows; give it a representative event here"
    return "schedule", scheduled_event(schedules[0])


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"method": method, "path": path, "headers": headers, "query_string": b"", "scheme": "https"}


def test_every_built_function_handles_an_event_of_its_trigger(built):
    """Each built function, run as Lambda runs it (the runtime's Python, its code and the built layer only,
    no site-packages), against moto server, with an event of its trigger: HTTP, authorizer, S3, SQS, schedule.
    """
    runtime = _runtime_python()
    # Named as the local stacks are, so its calls read like theirs for the least-privilege check.
    tpl = load_template(ROOT / "template.yaml", {"SiteUrl": "https://famille.example"})
    built_template = load_yaml(built / "template.yaml")
    layer = built / "SharedLayer" / "python"
    outcomes: dict[str, tuple[str, Any]] = {}
    aws = LocalAws()
    aws.start()
    try:
        aws.create_resources(tpl)
        for logical_id, source in tpl.functions.items():
            code_dir = built / built_template["Resources"][logical_id]["Properties"]["CodeUri"]
            function = dataclasses.replace(source, code_uri=code_dir, layers=[layer])
            kind, event = _event_for(tpl, logical_id, aws)
            env = lambda_environment(function, aws.endpoint_url)
            # -S: not even the interpreter's own site-packages; only the code and the layer, as in Lambda.
            request = {"event": event, "request_id": "packaging", "deadline_ms": int((time.time() + 60) * 1000)}
            result = subprocess.run(
                [runtime, "-S", "-E", str(WORKER_SCRIPT), str(code_dir), function.handler, str(layer)],
                input=json.dumps(request) + "\n",
                env=env,
                cwd=str(code_dir),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0 and result.stdout, f"{logical_id}: {result.stderr[-3000:]}"
            answer = json.loads(result.stdout.strip().splitlines()[-1])
            assert "error" not in answer, f"{logical_id} ({kind}): {answer['error']}\n{result.stderr[-3000:]}"
            outcomes[logical_id] = (kind, answer["result"])
        mails = aws.mails()
        [trigger] = tpl.s3_triggers
        report_body = aws.client("s3").get_object(
            Bucket=trigger.bucket, Key=report_key(f"{trigger.prefix}packaging/parents.jsonl")
        )
        report = json.loads(report_body["Body"].read())
    finally:
        aws.stop()
    assert set(outcomes) == set(tpl.functions)
    for logical_id, (kind, answer) in outcomes.items():
        if kind == "http":
            assert isinstance(answer, dict) and 200 <= answer["statusCode"] < 500, (logical_id, answer)
        elif kind == "authorizer":
            assert answer == {"isAuthorized": False} or answer.get("isAuthorized") is False, (logical_id, answer)
        elif kind == "sqs":
            assert answer == {"batchItemFailures": []}, (logical_id, answer)
    assert outcomes["HealthFunction"][1]["statusCode"] == 200, "the health check reads the table"
    assert report["status"] == "done" and not report["counts"].get("rejected"), report
    assert [m["to"] for m in mails] == ["parent@example.org"], "the mail function sent its message through SES"

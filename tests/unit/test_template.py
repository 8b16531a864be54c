"""template.yaml as the local stack reads it, the layer's requirements, and every function's handler."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra import layer_requirements
from infra.cfn import load_template
from infra.local.gateway import Gateway
from tests.support import ROOT


def template():
    return load_template(ROOT / "template.yaml", {"SiteUrl": "http://127.0.0.1:3000"})


def test_layer_requirements_agree_with_pyproject():
    assert (ROOT / "shared" / "requirements.txt").read_text() == layer_requirements.expected()


def test_routes_and_authorizer():
    tpl = template()
    keys = {r.route_key: r for r in tpl.routes}
    assert keys["GET /api/health"].authorizer is None
    assert keys["GET /api/me"].authorizer == "SessionAuthorizerFunction"
    assert tpl.authorizer_identity["SessionAuthorizerFunction"] == ["cookie"]


def test_environment_is_resolved():
    tpl = template()
    env = tpl.functions["AccountsFunction"].environment
    assert env["TABLE_NAME"] == "local-Table"
    assert env["SITE_URL"] == "http://127.0.0.1:3000"
    assert env["MAIL_QUEUE_URL"] == tpl.queue_url("MailQueue")
    assert env["MAIL_QUEUE_URL"].endswith("/123456789012/local-MailQueue")
    assert "MAIL_FROM" not in env
    assert tpl.functions["MailFunction"].environment["MAIL_FROM"] == tpl.parameters["MailFrom"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "espace-famille"
    assert tpl.functions["HealthFunction"].layers == [ROOT / "shared"]


def test_s3_trigger_and_bucket_name_come_from_the_template():
    tpl = template()
    [trigger] = tpl.s3_triggers
    assert trigger.function == "ImportFunction"
    assert trigger.prefix == "imports/"
    assert trigger.bucket == tpl.physical_name("ImportsBucket")
    assert trigger.bucket.startswith("espace-famille-imports-")


def test_route_priority():
    gateway = Gateway(template(), {}, access_log=None)
    route, params = gateway.match("DELETE", "/api/me/regies/abc")  # type: ignore[misc]
    assert route.function == "AccountsFunction" and params == {"link_id": "abc"}
    assert gateway.match("GET", "/api/me/regies/abc") is None
    assert gateway.match("GET", "/nowhere") is None


def import_handler(fn, env):
    module, _, name = fn.handler.rpartition(".")
    code = (
        "import importlib, json, sys\n"
        f"sys.path[:0] = [{str(fn.code_uri)!r}, {str(ROOT / 'shared')!r}]\n"
        f"h = getattr(importlib.import_module({module!r}), {name!r})\n"
        "print(json.dumps(callable(h)))\n"
    )
    env = {**env, "AWS_DEFAULT_REGION": "eu-west-3", "PATH": ""}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=fn.code_uri)


def test_every_function_handler_imports_with_the_environment_the_template_gives_it():
    tpl = template()
    for logical_id, fn in tpl.functions.items():
        out = import_handler(fn, {k: str(v) for k, v in fn.environment.items()})
        assert out.returncode == 0, f"{logical_id}: {out.stderr[-2000:]}"
        assert json.loads(out.stdout) is True, logical_id


@pytest.mark.parametrize(
    ("logical_id", "variable"),
    [
        ("SessionAuthorizerFunction", "TABLE_NAME"),
        ("AccountsFunction", "MAIL_QUEUE_URL"),
        ("AccountsFunction", "SITE_URL"),
        ("MailFunction", "MAIL_FROM"),
        ("PaymentsFunction", "PAYFIP_MODE"),
    ],
)
def test_a_function_missing_a_setting_fails_at_its_cold_start_naming_it(logical_id, variable):
    fn = template().functions[logical_id]
    env = {k: str(v) for k, v in fn.environment.items() if k != variable}
    out = import_handler(fn, env)
    assert out.returncode != 0
    assert "ConfigurationError" in out.stderr
    assert f"{variable} absente" in out.stderr


def statements(tpl, logical_id):
    props = tpl.resources[logical_id]["Properties"]
    return [tpl.resolve(st) for policy in props.get("Policies") or [] for st in policy.get("Statement", [])]


def actions(statement):
    found = statement["Action"]
    return [found] if isinstance(found, str) else found


def test_only_the_mail_function_talks_to_ses_and_every_sender_may_only_queue():
    tpl = template()
    queue_arn = tpl.get_att("MailQueue", "Arn")
    ses_users = set()
    for logical_id, fn in tpl.functions.items():
        granted = statements(tpl, logical_id)
        if any(a.startswith("ses:") for st in granted for a in actions(st)):
            ses_users.add(logical_id)
        sqs = [st for st in granted if any(a.startswith("sqs:") for a in actions(st))]
        if "MAIL_QUEUE_URL" in fn.environment:
            assert [(actions(st), st["Resource"]) for st in sqs] == [(["sqs:SendMessage"], queue_arn)], logical_id
        else:
            assert not sqs, logical_id
    assert ses_users == {"MailFunction"}
    [ses] = [st for st in statements(tpl, "MailFunction") if "ses:SendEmail" in actions(st)]
    assert actions(ses) == ["ses:SendEmail"]
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": tpl.parameters["MailFrom"]}}


def test_mail_queue_retries_then_dead_letters_and_alarms():
    tpl = template()
    [trigger] = tpl.sqs_triggers
    assert (trigger.function, trigger.queue, trigger.report_failures) == ("MailFunction", "MailQueue", True)
    assert trigger.batch_size <= 10
    queue = tpl.resolve(tpl.resources["MailQueue"]["Properties"])
    dlq = tpl.resolve(tpl.resources["MailDeadLetterQueue"]["Properties"])
    assert queue["VisibilityTimeout"] >= 6 * tpl.functions["MailFunction"].timeout
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": tpl.get_att("MailDeadLetterQueue", "Arn"),
        "maxReceiveCount": 5,
    }
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    alarm = tpl.resolve(tpl.resources["MailDeadLetterAlarm"]["Properties"])
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": tpl.physical_name("MailDeadLetterQueue")}]
    assert (alarm["MetricName"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "ApproximateNumberOfMessagesVisible",
        "GreaterThanThreshold",
        0,
    )
    # A sender's claim outlives its invocation, and ends before the queue hands its message out again.
    from espace_famille import mail

    assert tpl.functions["MailFunction"].timeout < mail.LEASE.total_seconds() < queue["VisibilityTimeout"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == mail.MAX_ATTEMPTS
    [sweep] = [s for s in tpl.schedules if s.function == "MailSweepFunction"]
    assert sweep.expression == "rate(5 minutes)"

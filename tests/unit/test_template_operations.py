"""What operations rely on in template.yaml: every function's log group and retention, every alarm told to the
topic, asynchronous work that cannot be lost, API throttling, and separate stacks per environment."""

from __future__ import annotations

import tomllib

from infra.cfn import Tagged, load_template
from tests.support import ROOT


def template():
    return load_template(ROOT / "template.yaml", {"SiteUrl": "http://127.0.0.1:9"})


def test_every_function_has_its_log_group_with_the_stack_retention():
    tpl = template()
    groups = {
        tpl.resolve(res["Properties"]["LogGroupName"]): res["Properties"]
        for res in tpl.resources_of_type("AWS::Logs::LogGroup").values()
    }
    for logical_id in tpl.functions:
        # The name Lambda writes to (the local workers' context says the same).
        props = groups.pop(f"/aws/lambda/{logical_id}", None)
        assert props is not None, f"{logical_id} has no log group"
        assert isinstance(props["RetentionInDays"], Tagged) and props["RetentionInDays"].value == "LogRetentionDays"
    assert not groups, f"log groups of no function: {sorted(groups)}"


def test_every_alarm_notifies_the_alarm_topic():
    tpl = template()
    alarms = tpl.resources_of_type("AWS::CloudWatch::Alarm")
    assert {"ApiServerErrorsAlarm", "PaymentAnomalyAlarm", "ImportErrorsAlarm", "FailedEventsAlarm"} <= set(alarms)
    assert {"MailDeadLetterAlarm", "ThrottlesAlarm"} <= set(alarms)
    topic = tpl.ref("AlarmTopic")
    for logical_id, alarm in alarms.items():
        assert tpl.resolve(alarm["Properties"]["AlarmActions"]) == [topic], logical_id
    subscription = tpl.raw["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert "AlarmEmailSubscription" not in tpl.resources, "no subscription without an address"
    with_email = load_template(ROOT / "template.yaml", {"SiteUrl": "http://x", "AlarmEmail": "ops@example.org"})
    assert with_email.resolve(with_email.resources["AlarmEmailSubscription"]["Properties"])["Endpoint"] == (
        "ops@example.org"
    )


def test_asynchronous_functions_keep_their_failed_events():
    tpl = template()
    asynchronous = {t.function for t in tpl.s3_triggers} | {s.function for s in tpl.schedules}
    assert {"ImportFunction", "MailSweepFunction", "RetentionFunction"} <= asynchronous
    for logical_id in asynchronous:
        fn = tpl.functions[logical_id]
        assert fn.on_failure_queue == "FailedEventsQueue", logical_id
        assert fn.max_retries == 2, logical_id
    # SQS-fed work has its redrive policy instead.
    for trigger in tpl.sqs_triggers:
        props = tpl.resolve(tpl.resources[trigger.queue]["Properties"])
        assert "deadLetterTargetArn" in props["RedrivePolicy"], trigger.queue


def test_the_api_is_throttled_and_has_one_stage_at_the_root():
    tpl = template()
    props = tpl.resources["HttpApi"]["Properties"]
    settings = tpl.resolve(props["DefaultRouteSettings"])
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == ("50", "100")
    assert "StageName" not in props, "a stage path prefix would break the __Host- cookie's Path=/"


def test_a_custom_domain_only_with_its_certificate_and_an_existing_table_replaces_the_stack_table():
    plain = template()
    assert plain.resolve(plain.resources["HttpApi"]["Properties"]["Domain"]) == ""
    custom = load_template(
        ROOT / "template.yaml",
        {"SiteUrl": "", "DomainName": "famille.example.fr", "CertificateArn": "arn:aws:acm:eu-west-3:1:certificate/x"},
    )
    domain = custom.resolve(custom.resources["HttpApi"]["Properties"]["Domain"])
    assert domain["DomainName"] == "famille.example.fr" and domain["CertificateArn"].startswith("arn:aws:acm:")
    assert custom.resolve(custom.raw["Outputs"]["ApiUrl"]["Value"]) == "https://famille.example.fr"
    restored = load_template(ROOT / "template.yaml", {"SiteUrl": "http://x", "ExistingTableName": "restored"})
    assert "Table" not in restored.resources
    for logical_id, fn in restored.functions.items():
        assert fn.environment["TABLE_NAME"] == "restored", logical_id
        policies = str(restored.resolve(restored.resources[logical_id]["Properties"].get("Policies") or []))
        assert "local-Table" not in policies, logical_id


def test_environments_are_separate_stacks():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    names = {env: config[env]["deploy"]["parameters"]["stack_name"] for env in ("dev", "prod")}
    assert len(set(names.values())) == 2, names
    modes = {env: config[env]["deploy"]["parameters"]["parameter_overrides"] for env in ("dev", "prod")}
    assert "PayfipMode=T" in modes["dev"] and "PayfipMode=W" in modes["prod"]


def test_the_local_stack_refuses_a_resource_type_it_does_not_know(tmp_path):
    source = (ROOT / "template.yaml").read_text(encoding="utf-8")
    odd = source.replace(
        "\nOutputs:\n", "\n  Odd:\n    Type: AWS::Kinesis::Stream\n    Properties: {ShardCount: 1}\n\nOutputs:\n"
    )
    path = tmp_path / "template.yaml"
    path.write_text(odd, encoding="utf-8")
    try:
        load_template(path, {"SiteUrl": "http://x"})
    except ValueError as exc:
        assert "AWS::Kinesis::Stream" in str(exc)
    else:
        raise AssertionError("an unknown resource type was accepted")

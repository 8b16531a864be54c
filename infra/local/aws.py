"""moto in server mode as the local AWS (DynamoDB, S3, SES), with resources created from template.yaml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import boto3

from infra.cfn import LOCAL_REGION, Template, load_template

_TABLE_ARGS = (
    "TableName",
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)


class LocalAws:
    """A moto server in its own process (infra/local/aws_server.py), as a separate service would be.

    Its own process keeps each stack's AWS state apart (moto's backends are process-global) and moto's
    work off the gateway's interpreter.
    """

    def __init__(self, port: int = 0, log: IO[str] | None = None) -> None:
        self._port = port
        self._log = log
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "infra.local.aws_server", "--port", str(self._port)],
            stdout=subprocess.PIPE,
            stderr=self._log if self._log is not None else None,
            text=True,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"the local AWS server did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=LOCAL_REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        )

    def _local(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.endpoint_url + path, method=method)  # noqa: S310 - our own loopback server
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own loopback server
            return json.loads(response.read())

    def reset_counts(self) -> None:
        self._local("DELETE", "/__local__/dynamodb-calls")

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = self._local("GET", "/__local__/dynamodb-calls")
        return result

    def calls_in_order(self) -> list[dict[str, str]]:
        """Every AWS call since the last reset_counts, in order: {"service", "operation"}."""
        result: list[dict[str, str]] = self._local("GET", "/__local__/aws-calls")
        return result

    def mails(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._local("GET", "/__local__/mails")
        return result

    def s3_writes(self) -> int:
        return int(self._local("GET", "/__local__/s3-writes")["count"])

    def iam_calls(self) -> list[tuple[str, str, str]]:
        """(function, IAM action, resource ARN) of every call a function made on this server."""
        return [(str(f), str(a), str(r)) for f, a, r in self._local("GET", "/__local__/iam-calls")]

    def sqs_sends(self, reset: bool = False) -> dict[str, int]:
        result: dict[str, int] = self._local("DELETE" if reset else "GET", "/__local__/sqs-sends")
        return result

    # -- resources from the template --------------------------------------------------------------
    def create_resources(self, template: Template, queue_attributes: dict[str, dict[str, str]] | None = None) -> None:
        ddb = self.client("dynamodb")
        for logical_id, res in template.resources_of_type("AWS::DynamoDB::Table").items():
            props = template.resolve(res.get("Properties") or {})
            args = {k: v for k, v in props.items() if k in _TABLE_ARGS}
            args["TableName"] = template.physical_name(logical_id)
            args.setdefault("BillingMode", "PAY_PER_REQUEST")
            ddb.create_table(**args)
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                ddb.update_time_to_live(
                    TableName=args["TableName"],
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                )
        s3 = self.client("s3")
        for logical_id in template.resources_of_type("AWS::S3::Bucket"):
            s3.create_bucket(
                Bucket=template.physical_name(logical_id),
                CreateBucketConfiguration={"LocationConstraint": LOCAL_REGION},
            )
        self.create_queues(template, queue_attributes)
        senders = {fn.environment["MAIL_FROM"] for fn in template.functions.values() if fn.environment.get("MAIL_FROM")}
        if senders:
            ses = self.client("sesv2")
            for sender in sorted(senders):
                # moto refuses unverified senders, as SES in its sandbox does.
                ses.create_email_identity(EmailIdentity=sender)

    def create_queues(self, template: Template, overrides: dict[str, dict[str, str]] | None = None) -> None:
        """The template's queues, then their redrive policies (which name other queues by ARN).

        The local AWS server honours them as SQS does: a received message stays invisible for the visibility
        timeout, and one received maxReceiveCount times moves to the dead-letter queue. `overrides` changes
        attributes by queue (a test's shorter visibility timeout), before anything polls.
        """
        queues = template.resources_of_type("AWS::SQS::Queue")
        if not queues:
            return
        sqs = self.client("sqs")
        policies: dict[str, str] = {}
        for logical_id, res in queues.items():
            props = template.resolve(res.get("Properties") or {})
            attributes = {k: _queue_attribute(v) for k, v in props.items() if k in _QUEUE_ATTRIBUTES}
            attributes.update((overrides or {}).get(logical_id, {}))
            url = sqs.create_queue(QueueName=template.physical_name(logical_id), Attributes=attributes)["QueueUrl"]
            if "RedrivePolicy" in props:
                policies[url] = _queue_attribute(props["RedrivePolicy"])
        for url, policy in policies.items():
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": policy})


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
)


def _queue_attribute(value: Any) -> str:
    """CloudFormation gives queue attributes as YAML values; SQS takes strings (policies as JSON)."""
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@contextmanager
def local_table(template_path: Path, stack_name: str = "bare") -> Iterator[LocalAws]:
    """A moto server with the template's resources, wired into this process (env, cached clients).

    For domain tests that inject a clock and for benchmarks that time handlers in-process, without the
    gateway. The process's environment and the domain's cached clients are restored afterwards.
    """
    from espace_famille import aws as domain_aws
    from espace_famille import config

    aws = LocalAws()
    aws.start()
    template = load_template(template_path, {"SiteUrl": "http://127.0.0.1:9"}, stack_name=stack_name)
    aws.create_resources(template)
    saved = dict(os.environ)
    os.environ.update(
        {
            "TABLE_NAME": template.physical_name("Table"),
            "AWS_ENDPOINT_URL": aws.endpoint_url,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "MAIL_FROM": template.parameters["MailFrom"],
            "MAIL_QUEUE_URL": template.ref("MailQueue") if "MailQueue" in template.resources else "",
            "SITE_URL": "http://127.0.0.1:9",
            "PAYFIP_MODE": template.parameters["PayfipMode"],
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )

    def reset_clients() -> None:
        config.settings.cache_clear()
        domain_aws.forget_clients()

    reset_clients()
    try:
        yield aws
    finally:
        aws.stop()
        os.environ.clear()
        os.environ.update(saved)
        reset_clients()

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

    # -- resources from the template --------------------------------------------------------------
    def create_resources(self, template: Template) -> None:
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
        senders = {fn.environment["MAIL_FROM"] for fn in template.functions.values() if fn.environment.get("MAIL_FROM")}
        if senders:
            ses = self.client("sesv2")
            for sender in sorted(senders):
                # moto refuses unverified senders, as SES in its sandbox does.
                ses.create_email_identity(EmailIdentity=sender)


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
            "SITE_URL": "http://127.0.0.1:9",
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

"""Imports an object of the imports bucket and writes its report next to it, under reports/."""

from __future__ import annotations

import json
from typing import IO, Any, cast

import boto3

from espace_famille.clock import Clock, system_clock
from espace_famille.importer.engine import Importer, Report

IMPORT_PREFIX = "imports/"
REPORT_PREFIX = "reports/"

_s3: Any = None


def _client() -> Any:
    global _s3
    if _s3 is None:
        _s3 = boto3.client("s3")
    return _s3


def report_key(key: str) -> str:
    """imports/2017/factures.csv -> reports/2017/factures.csv.json"""
    return REPORT_PREFIX + key.removeprefix(IMPORT_PREFIX) + ".json"


def import_object(bucket: str, key: str, clock: Clock = system_clock) -> Report:
    if not key.startswith(IMPORT_PREFIX) or key.endswith("/"):
        # Only what operations drop under imports/ is imported; anything else is refused and left alone.
        report = Report(file=key, status="rejected", file_error="objet hors du dossier imports/ : ignoré")
        return report
    s3 = _client()

    def open_stream() -> IO[bytes]:
        return cast(IO[bytes], s3.get_object(Bucket=bucket, Key=key)["Body"])

    report = Importer(clock=clock).run(key, open_stream)
    s3.put_object(
        Bucket=bucket,
        Key=report_key(key),
        Body=json.dumps(report.as_json(), ensure_ascii=False, indent=2).encode("utf-8"),
        ContentType="application/json; charset=utf-8",
    )
    return report

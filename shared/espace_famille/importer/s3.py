"""Imports an object of the imports bucket and writes its report next to it, under reports/."""

from __future__ import annotations

import json
from typing import IO, cast

from espace_famille import aws
from espace_famille.clock import Clock, iso, system_clock
from espace_famille.importer.engine import Importer, Report

IMPORT_PREFIX = "imports/"
REPORT_PREFIX = "reports/"


def report_key(key: str) -> str:
    """imports/2017/factures.csv -> reports/2017/factures.csv.json"""
    return REPORT_PREFIX + key.removeprefix(IMPORT_PREFIX) + ".json"


def import_object(bucket: str, key: str, clock: Clock = system_clock) -> Report:
    """Imports one object and writes its report; raises again what interrupted a failed import.

    The object is read several times (encoding, then rows): every read after the first asks for the same
    ETag, so that a file replaced meanwhile is never mixed with its successor (the read fails, and so
    does this invocation; the new version's own event imports it). An ETag, not a version id: reading a
    version needs s3:GetObjectVersion, and the bucket may be unversioned.
    """
    if not key.startswith(IMPORT_PREFIX) or key.endswith("/") or key == IMPORT_PREFIX:
        # Only what operations drop under imports/ is imported; anything else is refused, left alone
        # and not even read (the function may only read imports/).
        now = iso(clock())
        return Report(
            file=key,
            status="rejected",
            file_error="objet hors du dossier imports/ : ignoré",
            started_at=now,
            finished_at=now,
        )
    s3 = aws.client("s3")
    pinned: dict[str, str] = {}

    def open_stream() -> IO[bytes]:
        response = s3.get_object(Bucket=bucket, Key=key, **pinned)
        pinned.setdefault("IfMatch", response["ETag"])
        return cast(IO[bytes], response["Body"])

    report = Importer(clock=clock).run(key, open_stream)
    s3.put_object(
        Bucket=bucket,
        Key=report_key(key),
        Body=json.dumps(report.as_json(), ensure_ascii=False, indent=2).encode("utf-8"),
        ContentType="application/json; charset=utf-8",
    )
    if report.exception is not None:
        # After the report: the invocation fails, and S3's asynchronous invocation runs it again.
        raise report.exception
    return report

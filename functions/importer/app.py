"""S3-triggered import: each object created under imports/ is imported; its report goes under reports/."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from espace_famille.config import Need, init
from espace_famille.importer.s3 import import_object
from espace_famille.observability import logger, metrics, traced

init(Need.TABLE)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    results = []
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        report = import_object(bucket, key)
        # Counts and the file's name only: rows (and the keys they hold) are never logged.
        logger.info(
            "import finished",
            extra={"key": key, "status": report.status, "file_error": report.file_error, "counts": report.counts},
        )
        for outcome, n in report.counts.items():
            metrics.add_metric(name=f"ImportRows{outcome.capitalize()}", unit=MetricUnit.Count, value=n)
        results.append({"key": key, "status": report.status, "counts": report.counts})
    return {"imports": results}

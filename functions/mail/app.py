"""SQS-triggered: sends each queued mail through SES; a failed one is reported alone and comes back later."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from espace_famille import mail
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.observability import logger, metrics, traced

init(Need.TABLE, Need.MAIL_SENDER)

# A batch where every mail failed is answered like any other (each item reported), not raised: the queue
# retries the same items either way, and the log keeps one line per failed mail.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def deliver(record: SQSRecord) -> str:
    try:
        return mail.deliver(record.body, system_clock())
    except Exception:
        # After maxReceiveCount receives the message moves to the dead-letter queue, whose alarm calls a person.
        logger.exception(
            "mail not sent",
            extra={"message_id": record.message_id, "receive_count": record.attributes.approximate_receive_count},
        )
        metrics.add_metric(name="MailNotSent", unit=MetricUnit.Count, value=1)
        raise


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=deliver, processor=processor, context=context)

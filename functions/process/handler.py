"""Lambda entry of the process function, for three triggers:

- a Kafka batch of PaymentRequested from the requests topic, or
- from the retry topic (payments parked there, each due at its `retryDueAt`): returns
  `batchItemFailures` (ReportBatchItemFailures) for payments it could not finish, so the event
  source mapping redelivers exactly those and what follows them on their partition;
- an EventBridge schedule: sends again the reversals the bank has not acknowledged.
Importing this opens no connection and reads no settings.
"""

from __future__ import annotations

import time
from typing import Any

from functions.process.batch import handle_batch
from functions.process.deps import process_runtime

SAFETY_MARGIN_S = 3.0
MAX_REVERSALS_PER_RUN = 200


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    runtime = process_runtime()
    if isinstance(event, dict) and event.get("source") == "aws.events":
        due, acknowledged = runtime.service.reverse_due(runtime.executor, MAX_REVERSALS_PER_RUN)
        return {"due": due, "acknowledged": acknowledged}
    remaining_s = context.get_remaining_time_in_millis() / 1000 if context else 60.0
    return handle_batch(
        event,
        service=runtime.service,
        executor=runtime.executor,
        dead_letters=runtime.publisher,
        dead_letter_topic=runtime.settings.payment_requested_dlq_topic,
        deadline=time.monotonic() + max(1.0, remaining_s - SAFETY_MARGIN_S),
    )

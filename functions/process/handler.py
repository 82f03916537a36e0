"""Lambda entry of the process function: a Kafka batch of PaymentRequested records.

Returns `batchItemFailures` (ReportBatchItemFailures) for payments it could not finish, so
the event source mapping redelivers exactly those and what follows them on their partition.
Importing this opens no connection and reads no settings.
"""

from __future__ import annotations

import time
from typing import Any

from functions.process.batch import handle_batch
from functions.process.deps import process_runtime

SAFETY_MARGIN_S = 3.0


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    runtime = process_runtime()
    remaining_s = context.get_remaining_time_in_millis() / 1000 if context else 60.0
    return handle_batch(
        event,
        service=runtime.service,
        executor=runtime.executor,
        dead_letters=runtime.publisher,
        dead_letter_topic=runtime.settings.payment_requested_dlq_topic,
        deadline=time.monotonic() + max(1.0, remaining_s - SAFETY_MARGIN_S),
    )

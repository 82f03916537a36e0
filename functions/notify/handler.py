"""Lambda entry of the notify function, for two triggers:

- a Kafka batch of PaymentProcessed (event source mapping): create and send webhooks;
- an EventBridge schedule ({"source": "aws.events", "detail-type": "Scheduled Event"}): send
  the deliveries whose next attempt is due, so retries survive any restart: up to
  MAX_DUE_PER_RUN a run, a fair share of each merchant's (NotifyService.due).
"""

from __future__ import annotations

from typing import Any

from functions.notify.batch import handle_batch
from functions.notify.deps import notify_runtime

MAX_DUE_PER_RUN = 200


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    runtime = notify_runtime()
    if isinstance(event, dict) and event.get("source") == "aws.events":
        due, delivered = runtime.service.deliver_due(runtime.executor, MAX_DUE_PER_RUN)
        return {"due": due, "delivered": delivered}
    return handle_batch(
        event,
        service=runtime.service,
        executor=runtime.executor,
        dead_letters=runtime.publisher,
        dead_letter_topic=runtime.settings.payment_processed_dlq_topic,
    )

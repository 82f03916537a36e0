"""A Kafka batch of PaymentProcessed: create deliveries, send the new ones concurrently
(except to merchants whose endpoint hangs: theirs are left due for the schedule)."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Any

from common.dead_letters import set_aside_poison
from common.domain.errors import PermanentError, TransientError
from common.domain.events import PaymentProcessed, parse_event
from common.domain.ports import EventPublisher
from common.domain.webhooks import Delivery
from common.lambda_kafka import KafkaRecord, batch_item_failures, parse_kafka_event
from functions.notify.service import NotifyService

log = logging.getLogger("paygate.notify")


def handle_batch(
    event: Any,
    *,
    service: NotifyService,
    executor: Executor,
    dead_letters: EventPublisher,
    dead_letter_topic: str,
) -> dict[str, list[dict[str, dict[str, Any]]]]:
    failed: list[KafkaRecord] = []
    to_send: list[tuple[KafkaRecord, Delivery]] = []
    events: list[tuple[KafkaRecord, PaymentProcessed]] = []
    for record in parse_kafka_event(event).all_records():
        try:
            events.append((record, parse_event(PaymentProcessed, record.value_bytes())))
        except PermanentError as exc:
            if not set_aside_poison(
                dead_letters, dead_letter_topic, record, str(exc), "NotifyFunction"
            ):
                failed.append(record)
    slow = service.slow_merchants(p.merchant_id for _r, p in events)
    for record, processed in events:
        try:
            delivery = service.accept(processed, send_now=processed.merchant_id not in slow)
        except PermanentError as exc:
            if not set_aside_poison(
                dead_letters, dead_letter_topic, record, str(exc), "NotifyFunction"
            ):
                failed.append(record)
            continue
        except TransientError as exc:
            log.warning("delivery not recorded, will be redelivered", extra={"reason": str(exc)})
            failed.append(record)
            continue
        if delivery is not None:
            to_send.append((record, delivery))
    futures = [(record, executor.submit(service.deliver, d)) for record, d in to_send]
    for record, future in futures:
        try:
            future.result()
        except Exception as exc:
            # Redelivered, the record finds its delivery created and puts it on the schedule
            # (a first attempt that was made but not recorded may be made once more).
            log.warning("first attempt not recorded", extra={"reason": str(exc)})
            failed.append(record)
    return batch_item_failures(failed)

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
    events: dict[str, tuple[KafkaRecord, PaymentProcessed]] = {}
    duplicates: list[tuple[KafkaRecord, str]] = []
    for record in parse_kafka_event(event).all_records():
        try:
            processed = parse_event(PaymentProcessed, record.value_bytes())
        except PermanentError as exc:
            _set_aside(record, str(exc), dead_letters, dead_letter_topic, failed)
            continue
        if processed.transaction_id in events:  # a republished outcome: the same event
            duplicates.append((record, processed.transaction_id))
            continue
        events[processed.transaction_id] = (record, processed)
    pending = list(events.values())
    slow = service.slow_merchants(p.merchant_id for _r, p in pending)
    try:
        accepted = service.accept_all([p for _r, p in pending], slow=slow)
    except TransientError as exc:
        log.warning("deliveries not recorded, will be redelivered", extra={"reason": str(exc)})
        failed += [r for r, _p in pending]
        failed += [r for r, _tx in duplicates]
        return batch_item_failures(failed)
    to_send: list[tuple[KafkaRecord, Delivery]] = []
    for (record, _p), delivery in zip(pending, accepted, strict=True):
        if isinstance(delivery, PermanentError):
            _set_aside(record, str(delivery), dead_letters, dead_letter_topic, failed)
        elif delivery is not None:
            to_send.append((record, delivery))
    results = service.deliver_all([d for _r, d in to_send], executor)
    for (record, _d), result in zip(to_send, results, strict=True):
        if isinstance(result, Exception):
            # Redelivered, the record finds its delivery created and puts it on the schedule
            # (a first attempt that was made but not recorded may be made once more).
            log.warning("first attempt not recorded", extra={"reason": str(result)})
            failed.append(record)
    return batch_item_failures(failed)


def _set_aside(
    record: KafkaRecord,
    reason: str,
    dead_letters: EventPublisher,
    topic: str,
    failed: list[KafkaRecord],
) -> None:
    """Dead-letter a record that can never be handled; hand it back if Kafka refused."""
    if not set_aside_poison(dead_letters, topic, record, reason, "NotifyFunction"):
        failed.append(record)

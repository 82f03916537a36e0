"""Dead-lettering a Kafka record: the original key, value and headers, plus why.

Used by the functions for poison records (they never retry those) and by the harness's
event source emulation for batches whose retries ran out (Lambda's on-failure destination
for a Kafka topic carries the records themselves with per-record metadata).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from common.domain.errors import PermanentError, TransientError
from common.domain.ports import EventPublisher
from common.lambda_kafka import KafkaRecord

log = logging.getLogger("paygate.dead_letters")

POISON = "PoisonRecord"
RETRIES_EXHAUSTED = "RetryAttemptsExhausted"


def dead_letter(
    publisher: EventPublisher,
    topic: str,
    record: KafkaRecord,
    *,
    reason: str,
    condition: str,
    function: str,
) -> None:
    try:
        value = record.value_bytes() if record.value is not None else b""
    except PermanentError:  # not even base64: keep the text as it came
        value = (record.value or "").encode()
    headers = [
        *record.header_items(),
        ("dlq.condition", condition.encode()),
        ("dlq.reason", reason[:1000].encode()),
        ("dlq.function", function.encode()),
        ("dlq.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ("dlq.at", datetime.now(UTC).isoformat().encode()),
    ]
    try:
        key = record.key_bytes()
    except PermanentError:
        key = (record.key or "").encode()
    publisher.publish(topic, key, value, headers)


def set_aside_poison(
    publisher: EventPublisher, topic: str, record: KafkaRecord, reason: str, function: str
) -> bool:
    """Dead-letter a record no retry can fix; False if Kafka refused it (hand it back)."""
    log.warning(
        "poison record dead-lettered",
        extra={"source": f"{record.topic}/{record.partition}/{record.offset}", "reason": reason},
    )
    try:
        dead_letter(publisher, topic, record, reason=reason, condition=POISON, function=function)
    except TransientError:
        return False
    return True

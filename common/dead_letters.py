"""Dead-lettering a Kafka record: the original key, value and headers, plus why; and what a
dead letter asks for when it is read back (the redrive function, `harness dlq`).

Used by the functions for poison records (they never retry those) and by the harness's
event source emulation for batches whose retries ran out (Lambda's on-failure destination
for a Kafka topic carries the records themselves with per-record metadata).

A dead letter whose retries ran out for a transient reason goes back to its source topic
once its dependencies answer (DESIGN.md §2.9), at most `max_redrives` times (each redrive is
counted in the `redrive.count` header it goes back with); a poison record stays, with its
reason, for an operator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from common.domain.errors import PermanentError, TransientError
from common.domain.ports import EventPublisher, OutgoingMessage
from common.lambda_kafka import KafkaRecord

log = logging.getLogger("paygate.dead_letters")

POISON = "PoisonRecord"
RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
REDRIVE_COUNT = "redrive.count"
REDRIVE_FROM = "redrive.from"
_OURS = ("dlq.", "redrive.")


class Verdict(StrEnum):
    REDRIVE = "redrive"
    """Retries ran out for a transient reason: back to its source topic."""
    HOLD = "held"
    """Redriven `max_redrives` times already and dead-lettered again: left for an operator."""
    KEEP = "poison"
    """A poison record (or one this gateway did not dead-letter): stays, with its reason."""


@dataclass(frozen=True)
class DeadLetter:
    """A record read back from a dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        for n, v in self.headers:
            if n == name:
                return v.decode(errors="replace")
        return ""

    @property
    def condition(self) -> str:
        return self.header("dlq.condition")

    @property
    def reason(self) -> str:
        return self.header("dlq.reason")

    @property
    def source_topic(self) -> str:
        """The topic the record was dead-lettered from (`dlq.source` is topic/partition/offset)."""
        return self.header("dlq.source").rsplit("/", 2)[0]

    @property
    def redrives(self) -> int:
        count = self.header(REDRIVE_COUNT)
        return int(count) if count.isdigit() else 0

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    def verdict(self, sources: frozenset[str], max_redrives: int) -> Verdict:
        if self.condition != RETRIES_EXHAUSTED or self.source_topic not in sources:
            return Verdict.KEEP
        return Verdict.REDRIVE if self.redrives < max_redrives else Verdict.HOLD

    def redriven(self) -> OutgoingMessage:
        """The original record again, for its source topic: its own headers, without the
        dead letter's, and the redrive counted."""
        headers = [(n, v) for n, v in self.headers if not n.startswith(_OURS)]
        headers += [
            (REDRIVE_COUNT, str(self.redrives + 1).encode()),
            (REDRIVE_FROM, self.position.encode()),
        ]
        return OutgoingMessage(self.source_topic, self.key, self.value, headers)


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

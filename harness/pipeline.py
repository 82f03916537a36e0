"""What is in the pipeline right now: per topic end offsets and consumer lag, payments and
webhook deliveries by status, the bank circuit breaker's shared state, dead-letter counts.

`python -m harness status` prints it; the dashboard's overview (harness/dashboard/) shows it.
Each source is read on its own: one that does not answer is reported as such, the others
still show.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pybreaker
import redis
from confluent_kafka import Consumer, KafkaException, TopicPartition
from pymongo.errors import PyMongoError

from common.adapters.mongo_connection import mongo_client
from common.adapters.mongo_payment_ledger import PAYMENT_CLAIMS, PAYMENT_OUTCOMES, REVERSALS_DUE
from common.adapters.mongo_webhook_deliveries import DELIVERIES, DUE
from common.adapters.redis_breaker_storage import SharedBreakerStorage
from common.adapters.redis_connection import BANK_BREAKER_NAMESPACE, redis_client
from harness.event_source import mapping_specs
from harness.infra.settings import InfraSettings
from harness.local_env import function_env
from harness.template import project_template


@dataclass(frozen=True)
class TopicStatus:
    name: str
    partitions: int
    end_offset: int
    """Records ever written (the sum of the partitions' end offsets)."""
    consumer: str | None = None
    """The function whose event source mapping reads it, and its consumer group."""
    lag: int | None = None
    """Records written but not yet committed by that consumer group."""

    @property
    def dead_letters(self) -> bool:
        return self.name.endswith(".dlq")


@dataclass
class PipelineStatus:
    topics: list[TopicStatus] = field(default_factory=list)
    payments: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    breaker: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """Sources that did not answer, and why."""

    @property
    def dead_letter_count(self) -> int:
        return sum(t.end_offset for t in self.topics if t.dead_letters)

    def as_json(self) -> dict[str, Any]:
        return {
            "topics": [
                {
                    "name": t.name,
                    "partitions": t.partitions,
                    "endOffset": t.end_offset,
                    "consumer": t.consumer,
                    "lag": t.lag,
                }
                for t in self.topics
            ],
            "payments": self.payments,
            "deliveries": self.deliveries,
            "breaker": self.breaker,
            "deadLetters": self.dead_letter_count,
            "errors": self.errors,
        }


def consumers() -> dict[str, tuple[str, str]]:
    """topic → (function, consumer group), from the Kafka events in template.yaml."""
    out = {}
    for function, spec in project_template().functions().items():
        events = spec.get("Events") or {}
        if any(e.get("Type") == "SelfManagedKafka" for e in events.values()):
            for m in mapping_specs(function):
                out[m.topic] = (function, m.group)
    return out


def kafka_topics(bootstrap: str, timeout_s: float = 5.0) -> list[TopicStatus]:
    readers = consumers()
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"status-{uuid.uuid4().hex[:8]}"})
    try:
        out = []
        for topic in project_template().kafka_topics():
            meta = probe.list_topics(topic.name, timeout=timeout_s).topics.get(topic.name)
            if meta is None or meta.error is not None:
                continue
            parts = [TopicPartition(topic.name, p) for p in meta.partitions]
            ends = [probe.get_watermark_offsets(tp, timeout=timeout_s)[1] for tp in parts]
            reader = readers.get(topic.name)
            lag = None
            if reader is not None:
                lag = _lag(bootstrap, reader[1], parts, ends, timeout_s)
            out.append(
                TopicStatus(
                    topic.name,
                    len(parts),
                    sum(ends),
                    f"{reader[0]} ({reader[1]})" if reader else None,
                    lag,
                )
            )
        return out
    finally:
        probe.close()


def _lag(
    bootstrap: str, group: str, parts: list[TopicPartition], ends: list[int], timeout_s: float
) -> int:
    """Committed offsets are read without joining the group (no rebalance of the pollers)."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        committed = reader.committed(parts, timeout=timeout_s)
    finally:
        reader.close()
    return sum(end - max(c.offset, 0) for c, end in zip(committed, ends, strict=True))


def _payments(db: Any) -> dict[str, int]:
    """Counts the ledger's collections keep (no scan: the status page's cost does not grow
    with the number of payments ever made)."""
    claimed = db[PAYMENT_CLAIMS].estimated_document_count()
    decided = db[PAYMENT_OUTCOMES].estimated_document_count()
    return {
        "claimed": claimed,
        "decided": decided,
        "processing": max(0, claimed - decided),
        "reversals pending": db[REVERSALS_DUE].estimated_document_count(),
    }


def _deliveries(db: Any) -> dict[str, int]:
    return {
        "created": db[DELIVERIES].estimated_document_count(),
        "awaiting retry": db[DUE].estimated_document_count(),
    }


def breaker_state(redis_url: str) -> dict[str, Any]:
    client = redis_client(redis_url)
    try:
        client.ping()
        storage = SharedBreakerStorage(pybreaker.STATE_CLOSED, client, BANK_BREAKER_NAMESPACE)
        opened = storage.opened_at
        calls, failures = storage.read_window()
        return {
            "state": storage.state,
            "calls": calls,
            "failures": failures,
            "openedAt": opened.isoformat() if opened else None,
        }
    finally:
        client.close()


def collect(s: InfraSettings) -> PipelineStatus:
    status = PipelineStatus()
    try:
        status.topics = kafka_topics(s.kafka_bootstrap)
    except KafkaException as exc:
        status.errors["kafka"] = str(exc)
    client = mongo_client(s.mongo_uri, op_timeout_ms=30_000)
    try:
        db = client[function_env("ProcessFunction", s)["MONGO_DATABASE"]]
        status.payments = _payments(db)
        status.deliveries = _deliveries(db)
    except PyMongoError as exc:
        status.errors["mongodb"] = type(exc).__name__
    finally:
        client.close()
    try:
        status.breaker = breaker_state(s.redis_url)
    except redis.RedisError as exc:
        status.errors["redis"] = type(exc).__name__
    return status


def render_text(p: PipelineStatus) -> list[str]:
    lines = ["topics:"]
    for t in p.topics:
        lag = f"lag {t.lag:>6}" if t.lag is not None else " " * 10
        reader = f"→ {t.consumer}" if t.consumer else ("dead letters" if t.dead_letters else "")
        lines.append(
            f"  {t.name:<26} {t.partitions:>2} partitions  {t.end_offset:>8} records  {lag}  "
            f"{reader}"
        )
    lines.append("payments:   " + (", ".join(f"{k} {v}" for k, v in p.payments.items()) or "none"))
    lines.append(
        "deliveries: " + (", ".join(f"{k} {v}" for k, v in p.deliveries.items()) or "none")
    )
    if p.breaker:
        b = p.breaker
        opened = f", opened at {b['openedAt']}" if b.get("openedAt") else ""
        lines.append(
            f"bank circuit breaker: {b['state']} ({b['failures']} of {b['calls']} calls failed "
            f"in its window{opened})"
        )
    lines.append(f"dead letters: {p.dead_letter_count}")
    lines += [f"NOT ANSWERING: {name}: {why}" for name, why in sorted(p.errors.items())]
    return lines

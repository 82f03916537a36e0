"""Typed model of Lambda's Kafka event (self-managed Kafka and MSK), both ways.

Shape (LAMBDA-NOTES.md): `{"eventSource", "bootstrapServers", "records": {"<topic>-<p>": [...]}}`;
a record has `topic`, `partition`, `offset`, `timestamp` (ms), `timestampType`, base64 `key`
(may be absent or null) and `value`, and `headers` as a list of single-key objects whose values
are Java *signed* bytes. Topic and partition are taken from the record, never by splitting the
key (topic names contain `-` and `.`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.domain.errors import PermanentError


class KafkaRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    timestamp: int
    timestampType: Literal["CREATE_TIME", "LOG_APPEND_TIME"] = "CREATE_TIME"
    key: str | None = None
    value: str | None = None
    headers: list[dict[str, list[int]]] = Field(default_factory=list)

    def key_bytes(self) -> bytes | None:
        return _b64(self.key, "key") if self.key is not None else None

    def value_bytes(self) -> bytes:
        """The record's value; a record without one is unusable (PermanentError)."""
        if self.value is None:
            raise PermanentError("record has no value")
        return _b64(self.value, "value")

    def header_items(self) -> list[tuple[str, bytes]]:
        return [
            (name, bytes(b & 0xFF for b in values))
            for entry in self.headers
            for name, values in entry.items()
        ]

    def header(self, name: str) -> bytes | None:
        for key, value in self.header_items():
            if key == name:
                return value
        return None


class KafkaEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    eventSource: Literal["SelfManagedKafka", "aws:kafka", "aws:SelfManagedKafka"]
    bootstrapServers: str = ""
    eventSourceArn: str | None = None
    records: dict[str, list[KafkaRecord]]

    def all_records(self) -> Iterator[KafkaRecord]:
        for batch in self.records.values():
            yield from batch


def parse_kafka_event(raw: object) -> KafkaEvent:
    """An invocation's event; anything else is a caller error (PermanentError)."""
    try:
        return KafkaEvent.model_validate(raw)
    except ValidationError as exc:
        raise PermanentError(f"not a Kafka event: {exc.error_count()} problem(s)") from None


def encode_record(
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] = (),
    log_append_time: bool = False,
) -> dict[str, object]:
    """One record as Lambda hands it over (used by the harness's event source emulation)."""
    record: dict[str, object] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp_ms,
        "timestampType": "LOG_APPEND_TIME" if log_append_time else "CREATE_TIME",
        "value": base64.b64encode(value).decode() if value is not None else None,
        "headers": [{name: [b - 256 if b > 127 else b for b in data]} for name, data in headers],
    }
    if key is not None:
        record["key"] = base64.b64encode(key).decode()
    return record


def encode_event(records: Sequence[dict[str, object]], bootstrap_servers: str) -> dict[str, object]:
    grouped: dict[str, list[dict[str, object]]] = {}
    for record in records:
        grouped.setdefault(f"{record['topic']}-{record['partition']}", []).append(record)
    return {
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": bootstrap_servers,
        "records": grouped,
    }


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PermanentError(f"record {what} is not valid base64") from None


def batch_item_failures(failed: Sequence[KafkaRecord]) -> dict[str, list[dict[str, Any]]]:
    """The partial batch response (ReportBatchItemFailures) naming these records."""
    return {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": f"{r.topic}-{r.partition}", "offset": r.offset}}
            for r in failed
        ]
    }

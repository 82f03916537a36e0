"""Bounded reads of one topic: the dashboard's time index of the payments.

`payments.requested` holds every accepted payment in the order intake accepted it, and
`payments.processed` every outcome exactly as the ledger recorded it (the outbox: what is
published is the `event` of the `payment_outcomes` document). The broker keeps a time index
of each partition; MongoDB-wire on FerretDB 1.24 (SQLite) answers no sorted or ranged query
from an index (it reads and sorts the whole collection: 1.5 s for 20,000 claims, measured),
so "newest first" and "how many per second" are read here, and one payment's facts from the
ledger by `_id`.

Each read is bounded by its arguments, never by the size of the topic:
    offsets_at(t)   ListOffsets by timestamp: one request for every partition
    newest(n)       the last n records of each partition
    records_at(ps)  single records at given (partition, offset) positions

Partitions are assigned, never subscribed, and nothing is committed: the dashboard joins no
consumer group and takes nothing from the functions' pollers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

Position = tuple[int, int]
"""(partition, offset)"""


@dataclass(frozen=True)
class TopicRecord:
    partition: int
    offset: int
    timestamp: datetime
    """When it was published (the producer's CreateTime)."""
    key: bytes | None
    value: bytes


class TopicWindow:
    """One topic's bounded reads; one consumer, used by one caller at a time."""

    def __init__(self, bootstrap_servers: str, topic: str, timeout_s: float = 5.0) -> None:
        self.topic = topic
        self._bootstrap = bootstrap_servers
        self._timeout_s = timeout_s
        self._lock = threading.Lock()

    @cached_property
    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": "paygate-dashboard",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "fetch.wait.max.ms": 1,
                "log_level": 4,
            }
        )

    def close(self) -> None:
        with self._lock:
            if "_consumer" in self.__dict__:
                self._consumer.close()
                del self.__dict__["_consumer"]

    def ends(self) -> dict[int, tuple[int, int]]:
        """partition → (low, high) watermarks; {} when the topic does not exist."""
        with self._lock:
            return self._ends()

    def offsets_at(self, at: datetime, ends: Mapping[int, tuple[int, int]]) -> dict[int, int]:
        """partition → the first offset published at or after `at` (the high watermark in
        `ends` when there is none yet)."""
        ms = int(at.timestamp() * 1000)
        with self._lock:
            found = self._consumer.offsets_for_times(
                [TopicPartition(self.topic, p, ms) for p in sorted(ends)], timeout=self._timeout_s
            )
        out = {}
        for tp in found:
            low, high = ends[tp.partition]
            out[tp.partition] = high if tp.offset < 0 else min(max(tp.offset, low), high)
        return out

    def newest(self, n: int) -> list[TopicRecord]:
        """The last `n` records of each partition, newest first (by publish time)."""
        with self._lock:
            ranges = {p: (max(low, high - n), high) for p, (low, high) in self._ends().items()}
            out = self._read(ranges)
        out.sort(key=lambda r: (r.timestamp, r.partition, r.offset), reverse=True)
        return out

    def records_at(self, positions: list[Position]) -> dict[Position, TopicRecord]:
        """The records at these positions (one fetch per partition per round)."""
        by_partition: dict[int, list[int]] = {}
        for p, o in sorted(set(positions)):
            by_partition.setdefault(p, []).append(o)
        out: dict[Position, TopicRecord] = {}
        with self._lock:
            while by_partition:
                ranges = {p: (offs[0], offs[0] + 1) for p, offs in by_partition.items()}
                for r in self._read(ranges):
                    out[(r.partition, r.offset)] = r
                by_partition = {p: offs[1:] for p, offs in by_partition.items() if offs[1:]}
        return out

    # -- reading ---------------------------------------------------------------------

    def _ends(self) -> dict[int, tuple[int, int]]:
        c = self._consumer
        meta = c.list_topics(self.topic, timeout=self._timeout_s).topics.get(self.topic)
        if meta is None or meta.error is not None:
            return {}
        return {
            p: c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=self._timeout_s)
            for p in sorted(meta.partitions)
        }

    def _read(self, ranges: Mapping[int, tuple[int, int]]) -> list[TopicRecord]:
        """Every record of each partition's [start, end). `consume(n)` returns once it has n
        records (or at its timeout), so it is asked for exactly as many as are left."""
        todo = {p: r for p, r in ranges.items() if r[0] < r[1]}
        if not todo:
            return []
        c = self._consumer
        c.assign([TopicPartition(self.topic, p, start) for p, (start, _end) in todo.items()])
        left = {p: end - start for p, (start, end) in todo.items()}
        out: list[TopicRecord] = []
        deadline = time.monotonic() + self._timeout_s
        try:
            while left and (wait := deadline - time.monotonic()) > 0:
                for m in c.consume(min(500, sum(left.values())), timeout=wait):
                    record = _record(m)
                    if record is None:
                        continue
                    start, end = todo[record.partition]
                    if record.partition not in left or not start <= record.offset < end:
                        continue
                    out.append(record)
                    left[record.partition] = end - record.offset - 1
                    if not left[record.partition]:
                        del left[record.partition]
        finally:
            c.unassign()
        return out


def _record(m: Message) -> TopicRecord | None:
    err = m.error()
    if err is not None:
        if err.code() == KafkaError._PARTITION_EOF:
            return None
        raise KafkaException(err)
    _kind, ms = m.timestamp()
    key = m.key()
    value = m.value()
    return TopicRecord(
        partition=m.partition() or 0,
        offset=m.offset() or 0,
        timestamp=datetime.fromtimestamp(ms / 1000, UTC),
        key=key.encode() if isinstance(key, str) else key,
        value=value.encode() if isinstance(value, str) else (value or b""),
    )

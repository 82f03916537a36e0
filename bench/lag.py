"""Consumer lag of the pipeline's groups, sampled in the background, and a way to skip a
backlog between scenarios (the groups' offsets moved to the end while their pollers are
stopped)."""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

GROUPS = {"paygate-process": "payments.requested", "paygate-notify": "payments.processed"}


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )


def _partitions(consumer: Consumer, topic: str) -> list[TopicPartition]:
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    return [TopicPartition(topic, p) for p in sorted(meta.partitions)]


def lag(consumer: Consumer, topic: str) -> int:
    for attempt in range(10):
        try:
            return _lag(consumer, topic)
        except KafkaException:  # e.g. the coordinator of a fresh broker is still loading
            if attempt == 9:
                raise
            time.sleep(1)
    return 0


def _lag(consumer: Consumer, topic: str) -> int:
    total = 0
    for tp in consumer.committed(_partitions(consumer, topic), timeout=10):
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        committed = tp.offset if tp.offset >= 0 else low
        total += max(0, high - committed)
    return total


class LagMonitor:
    """Samples each group's lag every `every_s` seconds: [(t, {group: lag})]."""

    def __init__(self, bootstrap: str, every_s: float = 1.0) -> None:
        self._bootstrap = bootstrap
        self._every_s = every_s
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-monitor", daemon=True)

    def __enter__(self) -> LagMonitor:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        consumers = {g: _consumer(self._bootstrap, g) for g in GROUPS}
        try:
            while not self._stop.is_set():
                now = time.time()
                self.samples.append((now, {g: lag(c, GROUPS[g]) for g, c in consumers.items()}))
                self._stop.wait(self._every_s)
        finally:
            for c in consumers.values():
                c.close()

    def series(self) -> list[dict[str, Any]]:
        return [{"t": round(t, 3), **lags} for t, lags in self.samples]


def current_lag(bootstrap: str) -> dict[str, int]:
    out = {}
    for group, topic in GROUPS.items():
        c = _consumer(bootstrap, group)
        try:
            out[group] = lag(c, topic)
        finally:
            c.close()
    return out


def skip_backlog(bootstrap: str, timeout_s: float = 60.0) -> None:
    """Move both groups' offsets to the end of their topics. Their pollers must be stopped:
    the broker refuses while the group still has members (until their session times out)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for group, topic in GROUPS.items():
        c = _consumer(bootstrap, group)
        try:
            ends = []
            for tp in _partitions(c, topic):
                _low, high = c.get_watermark_offsets(tp, timeout=10)
                ends.append(TopicPartition(topic, tp.partition, high))
        finally:
            c.close()
        deadline = time.monotonic() + timeout_s
        while True:
            request = ConsumerGroupTopicPartitions(group, ends)
            try:
                admin.alter_consumer_group_offsets([request])[group].result(timeout=30)
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)


def skip_until_empty(bootstrap: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        skip_backlog(bootstrap)
        left = current_lag(bootstrap)
        if not any(left.values()):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not skip the backlog before the end-to-end runs: {left}")
        time.sleep(1)

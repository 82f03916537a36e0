"""Dead-letter topics read back: from the redrive function's committed position (its consumer
group, offsets committed only by `settle`), or whole, for `harness dlq` and the status page.

Partitions are assigned, not subscribed: a run reads what is there and stops, with no group
membership and no rebalance to wait for. Two overlapping runs may read the same records;
both then send them back, which the idempotent handlers make harmless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from common.dead_letters import DeadLetter
from common.domain.errors import TransientError

REDRIVE_GROUP = "paygate-redrive"


class KafkaDeadLetterQueue:
    def __init__(
        self,
        bootstrap_servers: str,
        topics: Sequence[str],
        group_id: str = REDRIVE_GROUP,
        timeout_s: float = 5.0,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = list(topics)
        self._group = group_id
        self._timeout_s = timeout_s

    @cached_property
    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": self._group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "log_level": 4,
            }
        )

    def pending(self, limit: int) -> list[DeadLetter]:
        """Up to `limit` records after the committed position of each partition."""
        try:
            ranges = self._ranges(committed=True)
            return self._read(ranges, limit)
        except KafkaException as exc:
            raise TransientError("kafka", str(exc.args[0])) from None

    def settle(self, positions: Mapping[tuple[str, int], int]) -> None:
        if not positions:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise TransientError("kafka", str(exc.args[0])) from None

    def committed(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → the next offset the redrive function will read."""
        return {tp: start for tp, (start, _end) in self._ranges(committed=True).items()}

    def browse(self, limit: int = 10_000) -> list[DeadLetter]:
        """Every record of the topics (at most `limit`), from the beginning."""
        return self._read(self._ranges(committed=False), limit)

    def close(self) -> None:
        if "_consumer" in self.__dict__:
            self._consumer.close()
            del self.__dict__["_consumer"]

    def _ranges(self, *, committed: bool) -> dict[tuple[str, int], tuple[int, int]]:
        """(topic, partition) → (first offset to read, end offset)."""
        c = self._consumer
        meta = c.list_topics(timeout=self._timeout_s).topics
        tps = [
            TopicPartition(t, p)
            for t in self._topics
            if t in meta and meta[t].error is None
            for p in sorted(meta[t].partitions)
        ]
        starts = {(tp.topic, tp.partition): -1 for tp in tps}
        if committed and tps:
            for tp in c.committed(tps, timeout=self._timeout_s):
                starts[(tp.topic, tp.partition)] = tp.offset
        out = {}
        for (t, p), start in starts.items():
            low, high = c.get_watermark_offsets(TopicPartition(t, p), timeout=self._timeout_s)
            out[(t, p)] = (max(start, low), high)
        return out

    def _read(
        self, ranges: Mapping[tuple[str, int], tuple[int, int]], limit: int
    ) -> list[DeadLetter]:
        todo = {tp: r for tp, r in ranges.items() if r[0] < r[1]}
        if not todo or limit <= 0:
            return []
        c = self._consumer
        c.assign([TopicPartition(t, p, start) for (t, p), (start, _) in todo.items()])
        out: list[DeadLetter] = []
        read: dict[tuple[str, int], int] = {}
        try:
            idle = 0
            while todo and len(out) < limit and idle < 3:
                # consume(n) waits for n records or its timeout: ask for no more than are left
                left = sum(
                    end - max(start, read.get(tp, start)) for tp, (start, end) in todo.items()
                )
                batch = c.consume(min(500, limit - len(out), left), timeout=self._timeout_s / 3)
                idle = 0 if batch else idle + 1
                for m in batch:
                    err = m.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise KafkaException(err)
                    letter = _letter(m)
                    tp = (letter.topic, letter.partition)
                    if tp not in todo or letter.offset >= todo[tp][1]:
                        continue
                    out.append(letter)
                    read[tp] = letter.offset + 1
                    if letter.offset + 1 >= todo[tp][1]:
                        del todo[tp]
                    if len(out) >= limit:
                        break
        finally:
            c.unassign()
        out.sort(key=lambda d: (d.topic, d.partition, d.offset))
        return out


def _letter(m: Message) -> DeadLetter:
    pairs: list[tuple[str, str | bytes | None]] = list(m.headers() or [])  # type: ignore[arg-type]
    headers = tuple((n, _bytes(v) or b"") for n, v in pairs)
    return DeadLetter(
        topic=str(m.topic()),
        partition=int(m.partition() or 0),
        offset=int(m.offset() or 0),
        key=_bytes(m.key()),
        value=_bytes(m.value()) or b"",
        headers=headers,
    )


def _bytes(v: str | bytes | None) -> bytes | None:
    return v.encode() if isinstance(v, str) else v

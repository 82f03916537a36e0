"""EventPublisher on confluent-kafka: idempotent, acks=all, and `publish` returns only once
the broker acknowledged.

One producer per process, shared by every request: concurrent publishes batch inside
librdkafka (linger.ms) instead of one flush() per request. A background thread serves the
delivery callbacks; each caller waits on its own future. Under Lambda an invocation returns
only after its own event was acknowledged, so nothing is left unflushed when it freezes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from common.domain.errors import TransientError
from common.domain.ports import OutgoingMessage

log = logging.getLogger(__name__)


class KafkaEventPublisher:
    def __init__(
        self,
        bootstrap_servers: str,
        ack_timeout_ms: int = 5000,
        extra_config: Mapping[str, str | int] | None = None,
    ) -> None:
        self._config: dict[str, str | int | float | bool] = {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 1,
            "compression.type": "lz4",
            "message.timeout.ms": ack_timeout_ms,
            "socket.connection.setup.timeout.ms": min(ack_timeout_ms, 3000),
            **(extra_config or {}),
        }
        self._wait_s = ack_timeout_ms / 1000 + 2
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self._closed = threading.Event()

    def publish(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        (error,) = self.publish_all([OutgoingMessage(topic, key, value, headers)])
        if error is not None:
            raise error

    def publish_all(self, messages: Sequence[OutgoingMessage]) -> list[TransientError | None]:
        """Queue every message, then wait for the acknowledgments together: a batch's events
        share produce requests instead of waiting one after the other."""
        if not messages:
            return []
        producer = self._current()
        waits: list[Future[None] | TransientError] = []
        for m in messages:
            try:
                waits.append(self._produce(producer, m))
            except TransientError as exc:
                waits.append(exc)
        deadline = time.monotonic() + self._wait_s
        return [w if isinstance(w, TransientError) else _acked(w, deadline) for w in waits]

    def _produce(self, producer: Producer, m: OutgoingMessage) -> Future[None]:
        acked: Future[None] = Future()

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                acked.set_result(None)
            else:
                if err.fatal():
                    self._discard(producer)
                acked.set_exception(TransientError("kafka", err.str()))

        try:
            producer.produce(
                m.topic, value=m.value, key=m.key, headers=list(m.headers), on_delivery=on_delivery
            )
        except BufferError:
            raise TransientError("kafka", "producer queue is full") from None
        except KafkaException as exc:
            raise TransientError("kafka", str(exc.args[0])) from None
        return acked

    def answers(self, timeout_s: float = 1.0) -> bool:
        """Does a broker answer a metadata request?"""
        try:
            return bool(self._current().list_topics(timeout=timeout_s).brokers)
        except KafkaException:
            return False

    def close(self, timeout_s: float = 10.0) -> int:
        """Flush what is queued; return how many messages were left unsent."""
        self._closed.set()
        with self._lock:
            producer, self._producer = self._producer, None
        return producer.flush(timeout_s) if producer is not None else 0

    def _current(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(self._config, logger=log)
                threading.Thread(
                    target=self._serve, args=(self._producer,), name="kafka-delivery", daemon=True
                ).start()
            return self._producer

    def _discard(self, producer: Producer) -> None:
        """A fatal producer error: the next publish builds a fresh producer."""
        with self._lock:
            if self._producer is producer:
                self._producer = None

    def _serve(self, producer: Producer) -> None:
        while not self._closed.is_set():
            producer.poll(0.5)  # returns as soon as a delivery report arrives
            with self._lock:
                if self._producer is not producer and len(producer) == 0:
                    return


def _acked(acked: Future[None], deadline: float) -> TransientError | None:
    try:
        acked.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return TransientError("kafka", "no acknowledgement in time")
    except TransientError as exc:
        return exc
    return None

"""EventPublisher on confluent-kafka: idempotent, acks=all, and `publish` returns only once
the broker acknowledged.

One producer per process, shared by every request: concurrent publishes batch inside
librdkafka (linger.ms) instead of one flush() per request. A background thread serves the
delivery callbacks; each caller waits on its own future (`publish_async`: an asyncio future
the callback settles through the caller's event loop, so an async caller needs no thread of
its own while it waits). Under Lambda an invocation returns only after its own event was
acknowledged, so nothing is left unflushed when it freezes.

A message librdkafka took but did not see acknowledged in time may still have been written
("possibly persisted"): `publish_async` raises PublishInDoubtError for it, not a plain
TransientError, so the caller settles the doubt before it answers anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from common.domain.errors import PublishInDoubtError, TransientError
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

    async def publish_async(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[None] = loop.create_future()
        producer = self._current()

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None and err.fatal():
                self._discard(producer)
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed
                loop.call_soon_threadsafe(_settle, acked, err)

        _send(producer, OutgoingMessage(topic, key, value, headers), on_delivery)
        try:
            await asyncio.wait_for(acked, self._wait_s)
        except TimeoutError:
            raise PublishInDoubtError("kafka", "no acknowledgement in time") from None

    def _produce(self, producer: Producer, m: OutgoingMessage) -> Future[None]:
        acked: Future[None] = Future()

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                acked.set_result(None)
            else:
                if err.fatal():
                    self._discard(producer)
                acked.set_exception(TransientError("kafka", err.str()))

        _send(producer, m, on_delivery)
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


def _send(
    producer: Producer,
    m: OutgoingMessage,
    on_delivery: Callable[[KafkaError | None, Message], None],
) -> None:
    """Hand the message to librdkafka; TransientError when it took nothing."""
    try:
        producer.produce(
            m.topic, value=m.value, key=m.key, headers=list(m.headers), on_delivery=on_delivery
        )
    except BufferError:
        raise TransientError("kafka", "producer queue is full") from None
    except KafkaException as exc:
        raise TransientError("kafka", str(exc.args[0])) from None


def _settle(acked: asyncio.Future[None], err: KafkaError | None) -> None:
    """On the caller's loop. Any delivery error of a message librdkafka took counts as in
    doubt: whether it was written cannot be told apart reliably, and settling a doubt that
    was none costs one insert."""
    if acked.done():  # the caller stopped waiting
        return
    if err is None:
        acked.set_result(None)
    else:
        acked.set_exception(PublishInDoubtError("kafka", err.str()))


def _acked(acked: Future[None], deadline: float) -> TransientError | None:
    try:
        acked.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return TransientError("kafka", "no acknowledgement in time")
    except TransientError as exc:
        return exc
    return None

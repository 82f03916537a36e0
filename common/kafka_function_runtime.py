"""What every Kafka-triggered function's composition root builds the same way: one Kafka
publisher and one thread pool per execution environment, created on first use."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from common.adapters.kafka_event_publisher import KafkaEventPublisher


class KafkaFunctionRuntime:
    def __init__(self, bootstrap_servers: str, concurrency: int, thread_name: str) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._concurrency = concurrency
        self._thread_name = thread_name

    @cached_property
    def publisher(self) -> KafkaEventPublisher:
        # The records of one batch finish within milliseconds of each other: waiting 5 ms
        # lets their events share one produce request (the broker's cost is per request).
        return KafkaEventPublisher(self._bootstrap_servers, extra_config={"linger.ms": 5})

    @cached_property
    def executor(self) -> ThreadPoolExecutor:
        """Records of one batch are worked on concurrently (they are independent payments)."""
        return ThreadPoolExecutor(self._concurrency, self._thread_name)

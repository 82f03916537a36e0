"""Composition root of the redrive function: settings + adapters, built once per process."""

from __future__ import annotations

from functools import cache, cached_property

from common.adapters.kafka_dead_letters import KafkaDeadLetterQueue
from common.adapters.kafka_event_publisher import KafkaEventPublisher
from common.adapters.mongo_connection import mongo_answers, mongo_client
from common.adapters.redis_connection import redis_answers, redis_client
from common.config import RedriveSettings, redrive_settings
from common.structured_logging import configure_logging
from functions.redrive.service import RedrivePolicy, RedriveService


class RedriveRuntime:
    def __init__(self, settings: RedriveSettings) -> None:
        self.settings = settings

    @cached_property
    def publisher(self) -> KafkaEventPublisher:
        return KafkaEventPublisher(self.settings.kafka_bootstrap_servers)

    @cached_property
    def service(self) -> RedriveService:
        s = self.settings
        mongo = mongo_client(s.mongo_uri)
        redis = redis_client(s.redis_url)
        return RedriveService(
            queue=KafkaDeadLetterQueue(s.kafka_bootstrap_servers, s.dead_letter_topics),
            publisher=self.publisher,
            # what process and notify need besides Kafka (which this run reads and writes)
            answers={
                "mongodb": lambda: mongo_answers(mongo),
                "redis": lambda: redis_answers(redis),
            },
            policy=RedrivePolicy(s.source_topics, s.redrive_max_times),
        )


@cache
def redrive_runtime() -> RedriveRuntime:
    settings = redrive_settings()
    configure_logging(settings.log_level)
    return RedriveRuntime(settings)

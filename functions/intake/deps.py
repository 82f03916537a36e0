"""Composition root of the intake function: settings + adapters, built once per process."""

from __future__ import annotations

from functools import cache, cached_property
from typing import Any

import pymongo
import redis

from common.adapters.dns_resolver import CachedResolver
from common.adapters.kafka_event_publisher import KafkaEventPublisher
from common.adapters.merchant_registry import MerchantRegistry
from common.adapters.mongo_connection import mongo_answers, mongo_client
from common.adapters.mongo_payment_ledger import MongoPublishFence
from common.adapters.mongo_payment_reader import MongoPaymentReader
from common.adapters.mongo_webhook_deliveries import MongoWebhookDeliveries
from common.adapters.redis_connection import LoopRedis, redis_answers, redis_client
from common.adapters.redis_intake_records import RedisIntakeRecords
from common.adapters.redis_pending_payments import RedisPendingPayments
from common.adapters.secrets_manager_secrets import key_material
from common.config import IntakeSettings, intake_settings
from common.security.card_vault import CardVault
from common.security.keyed_hash import KeyedHasher
from common.security.sealed_box import SealedBox, decode_key
from common.structured_logging import configure_logging
from common.system_clock import SystemClock
from functions.intake.service import IntakePolicy, IntakeService


class IntakeRuntime:
    """Builds each client on first use; a warm Lambda or a server process reuses them."""

    def __init__(self, settings: IntakeSettings) -> None:
        self.settings = settings

    @cached_property
    def _redis(self) -> redis.Redis:
        return redis_client(self.settings.redis_url)

    @cached_property
    def _mongo(self) -> pymongo.MongoClient[dict[str, Any]]:
        return mongo_client(self.settings.mongo_uri)

    @cached_property
    def _card_box(self) -> SealedBox:
        s = self.settings
        key = key_material(
            s.data_encryption_key, s.data_encryption_key_secret_arn, s.localstack_host
        )
        return SealedBox(decode_key(key))

    @cached_property
    def _webhook_box(self) -> SealedBox:
        s = self.settings
        key = key_material(s.webhook_secret_key, s.webhook_secret_key_secret_arn, s.localstack_host)
        return SealedBox(decode_key(key))

    @cached_property
    def _hasher(self) -> KeyedHasher:
        s = self.settings
        key = key_material(
            s.card_fingerprint_key, s.card_fingerprint_key_secret_arn, s.localstack_host
        )
        return KeyedHasher(decode_key(key))

    @cached_property
    def publisher(self) -> KafkaEventPublisher:
        return KafkaEventPublisher(
            self.settings.kafka_bootstrap_servers, self.settings.kafka_publish_timeout_ms
        )

    @cached_property
    def _directory(self) -> MerchantRegistry:
        s = self.settings
        db = self._mongo[s.mongo_database]
        return MerchantRegistry(db, self._redis, self._webhook_box, s.api_key_cache_seconds)

    @cached_property
    def _service(self) -> IntakeService:
        s = self.settings
        return IntakeService(
            publisher=self.publisher,
            records=RedisIntakeRecords(LoopRedis(s.redis_url)),
            fence=MongoPublishFence(self._mongo[s.mongo_database]),
            pending=RedisPendingPayments(self._redis),
            reader=MongoPaymentReader(self._mongo[s.mongo_database]),
            deliveries=MongoWebhookDeliveries(self._mongo[s.mongo_database]),
            vault=CardVault(self._card_box, self._hasher),
            hasher=self._hasher,
            resolve=CachedResolver(),
            clock=SystemClock(),
            policy=IntakePolicy(
                topic=s.payment_requested_topic,
                allow_private_webhook_urls=s.allow_private_webhook_urls,
                webhook_ports=s.webhook_ports,
            ),
        )

    def service(self) -> IntakeService:
        return self._service

    def directory(self) -> MerchantRegistry:
        return self._directory

    def health(self) -> dict[str, str]:
        answers = {
            "kafka": self.publisher.answers(),
            "redis": redis_answers(self._redis),
            "mongodb": mongo_answers(self._mongo),
        }
        return {name: "ok" if ok else "unavailable" for name, ok in answers.items()}


class LazyIntakeDeps:
    """The app's dependencies, built (settings, logging, clients) on the first request."""

    def service(self) -> IntakeService:
        return intake_runtime().service()

    def directory(self) -> MerchantRegistry:
        return intake_runtime().directory()

    def health(self) -> dict[str, str]:
        return intake_runtime().health()


@cache
def intake_runtime() -> IntakeRuntime:
    settings = intake_settings()
    configure_logging(settings.log_level)
    return IntakeRuntime(settings)

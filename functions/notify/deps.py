"""Composition root of the notify function: settings + adapters, built once per process."""

from __future__ import annotations

from functools import cache, cached_property

from common.adapters.dns_resolver import resolve_host
from common.adapters.http_webhook_sender import HttpWebhookSender
from common.adapters.merchant_registry import MerchantRegistry
from common.adapters.mongo_connection import mongo_client
from common.adapters.mongo_webhook_deliveries import MongoWebhookDeliveries
from common.adapters.redis_connection import redis_client
from common.adapters.redis_slow_endpoints import RedisSlowEndpoints
from common.adapters.secrets_manager_secrets import key_material
from common.config import NotifySettings, notify_settings
from common.kafka_function_runtime import KafkaFunctionRuntime
from common.recent_answers import RecentAnswers
from common.security.sealed_box import SealedBox, decode_key
from common.structured_logging import configure_logging
from common.system_clock import SystemClock
from functions.notify.service import NotifyPolicy, NotifyService


class NotifyRuntime(KafkaFunctionRuntime):
    def __init__(self, settings: NotifySettings) -> None:
        super().__init__(settings.kafka_bootstrap_servers, settings.notify_concurrency, "webhook")
        self.settings = settings

    @cached_property
    def service(self) -> NotifyService:
        s = self.settings
        key = key_material(s.webhook_secret_key, s.webhook_secret_key_secret_arn, s.localstack_host)
        box = SealedBox(decode_key(key))
        redis = redis_client(s.redis_url)
        db = mongo_client(s.mongo_uri, op_timeout_ms=30_000)[s.mongo_database]
        merchants = MerchantRegistry(db, redis, box)
        return NotifyService(
            deliveries=MongoWebhookDeliveries(db),
            sender=HttpWebhookSender(s.webhook_timeout_s, pool_size=s.notify_concurrency),
            # slow until a retry succeeds, or for a minute (then one batch tries it again)
            slow=RedisSlowEndpoints(redis, mark_s=max(60.0, s.webhook_timeout_s * 6)),
            # asked on every delivery, changed rarely: a rotated secret is used within a minute
            secret_of=RecentAnswers(merchants.webhook_secret, ttl_s=60),
            resolve=resolve_host,
            publisher=self.publisher,
            clock=SystemClock(),
            policy=NotifyPolicy(
                schedule=s.retry_schedule,
                allow_private_urls=s.allow_private_webhook_urls,
                dead_letter_topic=s.webhook_dlq_topic,
                webhook_ports=s.webhook_ports,
                # a batch of 100 on 16 threads: up to 7 rounds of one timeout each
                first_attempt_lease_s=s.webhook_timeout_s * 8 + 20,
                retries_per_merchant=s.webhook_retries_per_merchant,
            ),
        )


@cache
def notify_runtime() -> NotifyRuntime:
    settings = notify_settings()
    configure_logging(settings.log_level)
    return NotifyRuntime(settings)

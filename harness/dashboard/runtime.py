"""The dashboard's composition root: which database and topics it reads (the functions' own
environment, template.yaml's parameters and overrides included), and its clients, each built
on first use and reused."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import pymongo
import redis
from pymongo.database import Database

from common.adapters.mongo_connection import mongo_client
from common.adapters.mongo_payment_reader import MongoPaymentReader
from common.adapters.mongo_webhook_deliveries import MongoWebhookDeliveries
from common.adapters.redis_connection import redis_client
from common.adapters.redis_pending_payments import RedisPendingPayments
from common.config import KafkaSettings, MongoSettings, RedisSettings
from common.system_clock import SystemClock
from functions.intake.payment_lookup import PaymentLookup
from harness.dashboard.topic_window import TopicWindow
from harness.infra.settings import InfraSettings
from harness.local_env import function_env


class DashboardSettings(KafkaSettings, RedisSettings, MongoSettings):
    """What the dashboard reads: the settings the processing function runs with."""

    @classmethod
    def of(cls, infra: InfraSettings) -> DashboardSettings:
        env = function_env("ProcessFunction", infra)
        return cls.model_validate({k.lower(): v for k, v in env.items()})


class DashboardRuntime:
    def __init__(self, infra: InfraSettings) -> None:
        self.infra = infra
        self.settings = DashboardSettings.of(infra)

    @cached_property
    def _mongo(self) -> pymongo.MongoClient[dict[str, Any]]:
        return mongo_client(self.settings.mongo_uri, op_timeout_ms=10_000)

    @cached_property
    def db(self) -> Database[dict[str, Any]]:
        return self._mongo[self.settings.mongo_database]

    @cached_property
    def _redis(self) -> redis.Redis:
        return redis_client(self.settings.redis_url)

    @cached_property
    def requested(self) -> TopicWindow:
        s = self.settings
        return TopicWindow(s.kafka_bootstrap_servers, s.payment_requested_topic)

    @cached_property
    def processed(self) -> TopicWindow:
        s = self.settings
        return TopicWindow(s.kafka_bootstrap_servers, s.payment_processed_topic)

    @cached_property
    def deliveries(self) -> MongoWebhookDeliveries:
        return MongoWebhookDeliveries(self.db)

    @cached_property
    def lookup(self) -> PaymentLookup:
        """Intake's own read and resend use cases, over the same adapters."""
        return PaymentLookup(
            reader=MongoPaymentReader(self.db),
            pending=RedisPendingPayments(self._redis),
            deliveries=self.deliveries,
            clock=SystemClock(),
        )

    def close(self) -> None:
        for name in ("requested", "processed"):
            if name in self.__dict__:
                self.__dict__[name].close()
        if "_mongo" in self.__dict__:
            self._mongo.close()
        if "_redis" in self.__dict__:
            self._redis.close()

"""Typed settings, one class per function, read from environment variables.

Defaults are the local runtime's addresses (DESIGN.md §7), so a developer's shell needs no
variables at all. Every variable read here is declared in template.yaml and the other way
round (tests/unit/test_template_settings_agree.py). Nothing is read at import: call the
cached `*_settings()` factories from a composition root.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_ENV = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)


class KafkaSettings(BaseSettings):
    model_config = _ENV

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", min_length=1)
    payment_requested_topic: str = Field(default="payments.requested", min_length=1)
    payment_processed_topic: str = Field(default="payments.processed", min_length=1)


class RedisSettings(BaseSettings):
    model_config = _ENV

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", min_length=1)


class MongoSettings(BaseSettings):
    model_config = _ENV

    mongo_uri: str = Field(default="mongodb://127.0.0.1:27017/?directConnection=true", min_length=1)
    mongo_database: str = Field(default="paygate", min_length=1)


class LoggingSettings(BaseSettings):
    model_config = _ENV

    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")


class IntakeSettings(KafkaSettings, RedisSettings, MongoSettings, LoggingSettings):
    """The intake function: HTTP API, API keys and idempotency in Redis, publishes requests."""


class ProcessSettings(KafkaSettings, RedisSettings, MongoSettings, LoggingSettings):
    """The process function: bank authorization, transaction log, publishes outcomes."""


class NotifySettings(KafkaSettings, MongoSettings, LoggingSettings):
    """The notify function: webhook deliveries and their retry schedule."""


@lru_cache(maxsize=1)
def intake_settings() -> IntakeSettings:
    return IntakeSettings()


@lru_cache(maxsize=1)
def process_settings() -> ProcessSettings:
    return ProcessSettings()


@lru_cache(maxsize=1)
def notify_settings() -> NotifySettings:
    return NotifySettings()

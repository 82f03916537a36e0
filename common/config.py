"""Typed settings, one class per function, read from environment variables.

Defaults are the local runtime's addresses (DESIGN.md §7), so a developer's shell needs no
variables at all. Every variable read here is declared in template.yaml and the other way
round (tests/unit/test_template_settings_agree.py). Nothing is read at import: call the
cached `*_settings()` factories from a composition root.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails
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


class AwsSettings(BaseSettings):
    model_config = _ENV

    localstack_host: str = ""
    """Local development and tests only: `host:port` of a local AWS emulator (LocalStack, or
    moto's server, on 4566). When set, secrets are read there through localstack-client's
    boto3 session; empty on AWS (boto3's default session, the function's role)."""


def _one_source(settings: BaseSettings, key: str) -> None:
    """`key` or `key_secret_arn` must be set; the ARN wins. Reported like pydantic's own
    `missing` error on the plain variable, so load_settings names it."""
    value: SecretStr = getattr(settings, key)
    if not value.get_secret_value() and not getattr(settings, f"{key}_secret_arn"):
        raise ValidationError.from_exception_data(
            type(settings).__name__, [InitErrorDetails(type="missing", loc=(key,), input={})]
        )


class DataKeySettings(AwsSettings):
    """Keys are base64 of 32 random bytes (`python -c 'import secrets,base64;
    print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'`), given either as the
    value itself (local default: the harness generates one into .data/local-secrets.json) or
    as the ARN of a Secrets Manager secret holding it (AWS), read by the composition root
    through common/adapters/secrets_manager_secrets.py. Never validated here: a validation
    error would echo the raw value."""

    data_encryption_key: SecretStr = SecretStr("")
    """The card key: seals card numbers into tokens (AES-256-GCM). Intake and process only
    (DESIGN.md §9): notify, which dials merchant-controlled URLs, never holds it."""
    data_encryption_key_secret_arn: str = ""
    """Secrets Manager secret whose SecretString is the data encryption key; wins when set."""

    @model_validator(mode="after")
    def _data_key_is_given(self) -> Self:
        _one_source(self, "data_encryption_key")
        return self


class WebhookSecretKeySettings(AwsSettings):
    webhook_secret_key: SecretStr = SecretStr("")
    """Seals merchants' webhook signing secrets at rest (AES-256-GCM). Intake (which creates
    merchants' records) and notify (which signs) only."""
    webhook_secret_key_secret_arn: str = ""
    """Secrets Manager secret whose SecretString is the webhook-secret key; wins when set."""

    @model_validator(mode="after")
    def _webhook_key_is_given(self) -> Self:
        _one_source(self, "webhook_secret_key")
        return self


class FingerprintKeySettings(AwsSettings):
    card_fingerprint_key: SecretStr = SecretStr("")
    """Keys the card fingerprints and idempotency request digests (HMAC-SHA256)."""
    card_fingerprint_key_secret_arn: str = ""
    """Secrets Manager secret whose SecretString is the fingerprint key; wins when set."""

    @model_validator(mode="after")
    def _fingerprint_key_is_given(self) -> Self:
        _one_source(self, "card_fingerprint_key")
        return self


class WebhookUrlSettings(BaseSettings):
    """The webhook URL policy, checked by intake and again by notify."""

    model_config = _ENV

    allow_private_webhook_urls: bool = False
    """Local development only: accept webhook URLs on loopback and private networks, on any
    port."""
    webhook_allowed_ports: str = Field(default="80,443", pattern=r"^[0-9]{1,5}(,[0-9]{1,5})*$")
    """The ports a webhook URL may name where private addresses are refused."""

    @field_validator("webhook_allowed_ports")
    @classmethod
    def _ports_are_ports(cls, value: str) -> str:
        if not all(0 < int(p) < 65536 for p in value.split(",")):
            raise ValueError("a port is 1 to 65535")
        return value

    @property
    def webhook_ports(self) -> frozenset[int]:
        return frozenset(int(p) for p in self.webhook_allowed_ports.split(","))


class IntakeSettings(
    KafkaSettings,
    RedisSettings,
    MongoSettings,
    LoggingSettings,
    DataKeySettings,
    WebhookSecretKeySettings,
    FingerprintKeySettings,
    WebhookUrlSettings,
):
    """The intake function: HTTP API, API keys and idempotency in Redis, publishes requests."""

    kafka_publish_timeout_ms: int = Field(default=5000, ge=100, le=60000)
    """How long a request waits for the broker's acknowledgement before answering 503."""
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    """Bound on how long a revoked API key keeps working in a warm function."""


class ProcessSettings(
    KafkaSettings, RedisSettings, MongoSettings, LoggingSettings, DataKeySettings
):
    """The process function: bank authorization, transaction log, publishes outcomes."""

    payment_requested_dlq_topic: str = Field(default="payments.requested.dlq", min_length=1)
    """Where records that can never be processed go, with the reason (poison records)."""
    bank_url: str = Field(default="http://127.0.0.1:8081", min_length=1)
    bank_timeout_ms: int = Field(default=2000, ge=50, le=30000)
    """One authorization attempt's timeout."""
    bank_retry_budget_s: float = Field(default=20.0, gt=0, le=600)
    """How long a payment may wait for a bank decision (retries, open breaker) before it is
    `failed` with `bank_unavailable`."""
    payment_retry_topic: str = Field(default="payments.requested.retry", min_length=1)
    """The delay topic where a payment the bank has not decided within one attempt waits."""
    bank_batch_patience_ms: int = Field(default=500, ge=10, le=30000)
    """How long a batch of the requests topic waits for the bank before it parks the payments
    still undecided (their calls go on, with BANK_TIMEOUT_MS each)."""
    bank_retry_delay_s: float = Field(default=1.0, ge=0, le=20)
    """How long a parked payment waits on the retry topic before its next attempt (well
    inside the function's timeout: the retry mapping's invocation waits for it)."""
    breaker_failure_ratio: float = Field(default=0.5, gt=0, le=1)
    """The share of failed bank calls in the sampling window that opens the breaker."""
    breaker_sampling_s: int = Field(default=30, ge=1, le=600)
    """The sliding window the ratio is taken over."""
    breaker_minimum_throughput: int = Field(default=20, ge=1, le=10000)
    """Calls the window must hold before the ratio counts (fewer: never opens)."""
    breaker_break_s: float = Field(default=10.0, gt=0, le=600)
    """How long the breaker stays open before half-open lets probes through."""
    breaker_half_open_probes: int = Field(default=3, ge=1, le=100)
    """Calls half-open lets through, across all workers; one success closes it."""
    process_concurrency: int = Field(default=16, ge=1, le=256)
    """Payments of one batch processed at once (threads)."""


class NotifySettings(
    KafkaSettings,
    RedisSettings,
    MongoSettings,
    LoggingSettings,
    WebhookSecretKeySettings,
    WebhookUrlSettings,
):
    """The notify function: webhook deliveries and their retry schedule."""

    payment_processed_dlq_topic: str = Field(default="payments.processed.dlq", min_length=1)
    webhook_dlq_topic: str = Field(default="webhooks.dlq", min_length=1)
    """Deliveries whose retries are exhausted, for operators to look at."""
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=30)
    webhook_retry_schedule_s: str = Field(
        default="5,300,1800,7200,18000,36000,36000",
        pattern=r"^[0-9]+(\.[0-9]+)?(,[0-9]+(\.[0-9]+)?)*$",
    )
    """Delays after the first attempt, in seconds (Standard Webhooks' usual schedule)."""
    webhook_retries_per_merchant: int = Field(default=10, ge=1)
    """A scheduled run sends at most this many of one merchant's due retries (merchants are
    served in turn), so one whose endpoint hangs cannot fill every run."""
    notify_concurrency: int = Field(default=16, ge=1, le=256)

    @property
    def retry_schedule(self) -> list[float]:
        return [float(x) for x in self.webhook_retry_schedule_s.split(",")]


class RedriveSettings(KafkaSettings, RedisSettings, MongoSettings, LoggingSettings, AwsSettings):
    """The redrive function: dead letters whose retries ran out go back to their source topic
    once the dependencies answer. It holds no data key: it moves records as they are
    (LOCALSTACK_HOST is every function's, from template.yaml's Globals; unused here)."""

    payment_retry_topic: str = Field(default="payments.requested.retry", min_length=1)
    redrive_dead_letter_topics: str = Field(
        default="payments.requested.dlq,payments.processed.dlq", pattern=r"^[^,\s]+(,[^,\s]+)*$"
    )
    """The dead-letter topics read (webhooks.dlq is not: an exhausted webhook is a terminal
    state, which the merchant may resend)."""
    redrive_max_per_run: int = Field(default=500, ge=1, le=10000)
    redrive_max_times: int = Field(default=10, ge=1, le=1000)
    """How often one record is sent back before it is held for an operator."""

    @property
    def dead_letter_topics(self) -> list[str]:
        return self.redrive_dead_letter_topics.split(",")

    @property
    def source_topics(self) -> frozenset[str]:
        return frozenset(
            {self.payment_requested_topic, self.payment_retry_topic, self.payment_processed_topic}
        )


class SettingsError(RuntimeError):
    """The environment does not configure a function; names the variables, never values."""


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S]) -> S:
    """Build settings; on error, say which variables and why, without echoing any value
    (pydantic's own message prints the whole input, secrets included)."""
    try:
        return cls()
    except ValidationError as exc:
        problems = ", ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['type']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise SettingsError(f"{cls.__name__} is misconfigured: {problems}") from None


@lru_cache(maxsize=1)
def intake_settings() -> IntakeSettings:
    return load_settings(IntakeSettings)


@lru_cache(maxsize=1)
def process_settings() -> ProcessSettings:
    return load_settings(ProcessSettings)


@lru_cache(maxsize=1)
def notify_settings() -> NotifySettings:
    return load_settings(NotifySettings)


@lru_cache(maxsize=1)
def redrive_settings() -> RedriveSettings:
    return load_settings(RedriveSettings)

"""Composition root of the process function: settings + adapters, built once per process."""

from __future__ import annotations

from functools import cache, cached_property

import pybreaker

from common.adapters.http_bank_client import HttpBankClient
from common.adapters.mongo_connection import mongo_client
from common.adapters.mongo_payment_ledger import MongoPaymentLedger
from common.adapters.ratio_breaker import BreakerPolicy, RatioCircuitBreaker
from common.adapters.redis_breaker_storage import SharedBreakerStorage
from common.adapters.redis_connection import BANK_BREAKER_NAMESPACE, redis_client
from common.adapters.resilient_bank import ResilientBank
from common.adapters.secrets_manager_secrets import key_material
from common.config import ProcessSettings, process_settings
from common.kafka_function_runtime import KafkaFunctionRuntime
from common.security.card_vault import CardVault
from common.security.keyed_hash import KeyedHasher
from common.security.sealed_box import SealedBox, decode_key
from common.structured_logging import configure_logging
from common.system_clock import SystemClock
from functions.process.service import ProcessPolicy, ProcessService


class ProcessRuntime(KafkaFunctionRuntime):
    def __init__(self, settings: ProcessSettings) -> None:
        super().__init__(settings.kafka_bootstrap_servers, settings.process_concurrency, "payment")
        self.settings = settings

    @cached_property
    def breaker(self) -> RatioCircuitBreaker:
        s = self.settings
        storage = SharedBreakerStorage(
            pybreaker.STATE_CLOSED,
            redis_client(s.redis_url),
            BANK_BREAKER_NAMESPACE,
            sampling_s=s.breaker_sampling_s,
        )
        return RatioCircuitBreaker(storage, breaker_policy(s))

    @cached_property
    def service(self) -> ProcessService:
        s = self.settings
        key = key_material(
            s.data_encryption_key, s.data_encryption_key_secret_arn, s.localstack_host
        )
        box = SealedBox(decode_key(key))
        # A slow write is better waited for than retried: a retry is one more write to an
        # already busy database (FerretDB serializes them).
        db = mongo_client(s.mongo_uri, op_timeout_ms=30_000)[s.mongo_database]
        bank = HttpBankClient(s.bank_url, pool_size=s.process_concurrency)
        return ProcessService(
            ledger=MongoPaymentLedger(db),
            bank=ResilientBank(bank, self.breaker, s.bank_timeout_ms / 1000),
            # the vault only opens tokens here; fingerprints were made at intake
            vault=CardVault(box, KeyedHasher(bytes(32))),
            publisher=self.publisher,
            clock=SystemClock(),
            policy=ProcessPolicy(
                processed_topic=s.payment_processed_topic,
                retry_topic=s.payment_retry_topic,
                retry_budget_s=s.bank_retry_budget_s,
                attempt_timeout_s=s.bank_timeout_ms / 1000,
                retry_delay_s=s.bank_retry_delay_s,
                inquiry_wait_s=s.bank_timeout_ms / 1000,
                batch_patience_s=s.bank_batch_patience_ms / 1000,
            ),
        )


def breaker_policy(s: ProcessSettings) -> BreakerPolicy:
    return BreakerPolicy(
        failure_ratio=s.breaker_failure_ratio,
        minimum_throughput=s.breaker_minimum_throughput,
        break_s=s.breaker_break_s,
        half_open_probes=s.breaker_half_open_probes,
    )


@cache
def process_runtime() -> ProcessRuntime:
    settings = process_settings()
    configure_logging(settings.log_level)
    return ProcessRuntime(settings)

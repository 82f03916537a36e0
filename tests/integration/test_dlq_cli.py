"""`python -m harness dlq list|show|redrive` on real Kafka, against topics of this test's own
(template parameters overridden the way `sam deploy --parameter-overrides` does)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Mapping

import pytest
from confluent_kafka import Consumer, TopicPartition

from common.adapters.kafka_event_publisher import KafkaEventPublisher
from common.dead_letters import POISON, RETRIES_EXHAUSTED, dead_letter
from common.lambda_kafka import KafkaRecord, encode_record
from harness.infra.settings import InfraSettings
from tests.harness_cli import run_harness


@pytest.fixture
def names(new_topics: Callable[[Mapping[str, int]], None]) -> tuple[str, str]:
    base = f"test.dlqcli.{uuid.uuid4().hex[:8]}"
    requested, processed = f"{base}.requested", f"{base}.processed"
    new_topics({t: 1 for t in (requested, f"{requested}.dlq", processed, f"{processed}.dlq")})
    return requested, processed


def harness(args: list[str], requested: str, processed: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PAYGATE_PARAMETER_OVERRIDES": (
            f"PaymentRequestedTopic={requested} PaymentProcessedTopic={processed}"
        ),
    }
    return run_harness("dlq", *args, env=env, timeout=60)


def letter(publisher: KafkaEventPublisher, source: str, key: str, condition: str) -> None:
    record = KafkaRecord.model_validate(
        encode_record(
            topic=source, partition=0, offset=7, timestamp_ms=0, key=key.encode(), value=b"{}"
        )
    )
    reason = "TransientError: mongodb (after 10 attempts)"
    dead_letter(
        publisher, f"{source}.dlq", record, reason=reason, condition=condition, function="F"
    )


def test_an_operator_lists_shows_and_redrives(infra: InfraSettings, names: tuple[str, str]) -> None:
    requested, processed = names
    publisher = KafkaEventPublisher(infra.kafka_bootstrap)
    letter(publisher, requested, "tx-exhausted", RETRIES_EXHAUSTED)
    letter(publisher, processed, "tx-poison", POISON)
    publisher.close()

    listed = harness(["list", "--json"], requested, processed)
    assert listed.returncode == 0, listed.stderr
    rows = {r["key"]: r for r in json.loads(listed.stdout)}
    assert rows["tx-exhausted"]["state"] == "waiting"
    assert rows["tx-poison"]["state"] == "poison"
    assert rows["tx-poison"]["reason"].startswith("TransientError")

    shown = harness(["show", rows["tx-poison"]["position"]], requested, processed)
    assert json.loads(shown.stdout)["headers"]["dlq.condition"] == POISON
    assert harness(["show", "nowhere/0/0"], requested, processed).returncode == 1
    assert harness(["redrive"], requested, processed).returncode == 2

    ran = harness(["redrive", "--pending"], requested, processed)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.strip().splitlines()[-1])["redriven"] == 1
    rows = {
        r["key"]: r for r in json.loads(harness(["list", "--json"], requested, processed).stdout)
    }
    assert rows["tx-exhausted"]["state"] == "redriven"

    by_hand = harness(["redrive", rows["tx-poison"]["position"]], requested, processed)
    assert by_hand.returncode == 0 and f"→ {processed}" in by_hand.stdout
    c = Consumer({"bootstrap.servers": infra.kafka_bootstrap, "group.id": "t-dlqcli"})
    c.assign([TopicPartition(requested, 0, 0), TopicPartition(processed, 0, 0)])
    back = sorted((m.topic(), m.key()) for m in c.consume(10, timeout=5) if m.error() is None)
    c.close()
    assert back == [(processed, b"tx-poison"), (requested, b"tx-exhausted")]

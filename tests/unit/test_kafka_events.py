"""Lambda's Kafka event shape: the committed samples, and both directions of the model."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from common.domain.errors import PermanentError
from common.lambda_kafka import KafkaEvent, encode_event, encode_record, parse_kafka_event
from functions.process.batch import handle_batch
from functions.process.service import ProcessService
from harness.template import REPO_ROOT
from tests.fakes import FakePublisher

SAMPLES = [  # the Kafka ones (scheduled.json is an EventBridge event)
    *sorted(p for p in (REPO_ROOT / "events" / "process").glob("*.json") if p.stem != "scheduled"),
    REPO_ROOT / "events" / "notify" / "payment-processed.json",
]
# AWS Lambda developer guide, "Using Lambda with self-managed Apache Kafka": record fields.
RECORD_FIELDS = {
    "topic",
    "partition",
    "offset",
    "timestamp",
    "timestampType",
    "key",
    "value",
    "headers",
}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_have_the_documented_shape(path: Path) -> None:
    raw = json.loads(path.read_text())
    assert set(raw) == {"eventSource", "bootstrapServers", "records"}
    assert raw["eventSource"] == "SelfManagedKafka"
    for key, records in raw["records"].items():
        offsets = [r["offset"] for r in records]
        assert offsets == sorted(offsets)
        for r in records:
            assert set(r) == RECORD_FIELDS
            assert key == f"{r['topic']}-{r['partition']}"
            assert r["timestampType"] in ("CREATE_TIME", "LOG_APPEND_TIME")
            for header in r["headers"]:
                ((_name, values),) = header.items()
                assert all(-128 <= b <= 127 for b in values)
    event = KafkaEvent.model_validate(raw)
    assert all(rec.value_bytes() for rec in event.all_records())


def test_round_trip_with_signed_header_bytes_and_dotted_topic_names() -> None:
    record = encode_record(
        topic="a.b-c",
        partition=3,
        offset=7,
        timestamp_ms=1,
        key=None,
        value=b"\x00\xff",
        headers=[("h", bytes([0, 127, 128, 255]))],
    )
    assert "key" not in record
    assert record["headers"] == [{"h": [0, 127, -128, -1]}]
    event = parse_kafka_event(encode_event([record], "b:9092"))
    (parsed,) = list(event.all_records())
    assert (parsed.topic, parsed.partition, parsed.offset) == ("a.b-c", 3, 7)
    assert parsed.value_bytes() == b"\x00\xff" and parsed.key_bytes() is None
    assert parsed.header("h") == bytes([0, 127, 128, 255])


@pytest.mark.parametrize("source", ["SelfManagedKafka", "aws:kafka", "aws:SelfManagedKafka"])
def test_every_event_source_spelling_is_accepted(source: str) -> None:
    assert parse_kafka_event({"eventSource": source, "records": {}}).eventSource == source


@pytest.mark.parametrize(
    "raw", [None, {}, {"eventSource": "aws:sqs", "records": {}}, {"eventSource": "aws:kafka"}]
)
def test_anything_else_is_refused(raw: object) -> None:
    with pytest.raises(PermanentError):
        parse_kafka_event(raw)


def test_bad_base64_is_a_permanent_error() -> None:
    record = encode_record(topic="t", partition=0, offset=0, timestamp_ms=1, key=None, value=b"x")
    record["value"] = "%%%"
    (parsed,) = list(parse_kafka_event(encode_event([record], "b")).all_records())
    with pytest.raises(PermanentError, match="base64"):
        parsed.value_bytes()


def test_a_poison_record_that_cannot_be_dead_lettered_is_handed_back() -> None:
    record = encode_record(
        topic="payments.requested", partition=2, offset=5, timestamp_ms=1, key=b"k", value=b"{oops"
    )
    result = handle_batch(
        encode_event([record], "b"),
        service=ProcessService.__new__(ProcessService),  # never reached: nothing parses
        executor=ThreadPoolExecutor(1),
        dead_letters=FakePublisher(down=True),
        dead_letter_topic="payments.requested.dlq",
        deadline=0.0,
    )
    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": "payments.requested-2", "offset": 5}}
        ]
    }

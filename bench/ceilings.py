"""Ceilings, measured first in the same run: what this machine does with no gateway logic.

- the server stack alone (a trivial FastAPI route under uvicorn), requests/s with wrk;
- the Kafka producer alone with the gateway's settings (acks=all, idempotent, linger 1 ms):
  one waited-for publish at a time, as one request does, and many in flight;
- Redis round trips from Python (one command per round trip, and pipelined);
- MongoDB-wire inserts, one at a time and in bulk, and findAndModify filtered by `_id` alone
  and by `_id` and status;
- the local webhook receiver's capacity (signed webhooks, verified, with wrk).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.payloads import payment_body
from bench.services import running
from bench.stack_env import BenchEnv
from bench.tools import run_wrk
from common.adapters.kafka_event_publisher import KafkaEventPublisher
from common.adapters.mongo_connection import mongo_client
from common.adapters.redis_connection import redis_client
from common.webhook_signing import sign_webhook


def _rate(count: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def trivial_endpoint(
    env: BenchEnv, seconds: float, work: Path, processes: int, route: str = "trivial"
) -> dict[str, Any]:
    """`trivial`: the body read, a small JSON answer; `model`: the body validated as
    PaymentRequestIn too (the payment body the intake benchmark sends)."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.trivial_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(env.trivial_port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        str(processes),
    ]
    url = f"http://127.0.0.1:{env.trivial_port}"
    body = '{"id":"{{ID}}"}' if route == "trivial" else payment_body(env, "mer_ceiling")
    json_body = {"Content-Type": "application/json"}
    with running(env, work / "logs", [(f"{route}{processes}", argv, f"{url}/health")]):
        run_wrk(f"{url}/{route}", 1, body=body, headers=json_body, work_dir=work)  # warm-up
        result = run_wrk(f"{url}/{route}", seconds, body=body, headers=json_body, work_dir=work)
    return {**result.as_dict(), "processes": processes}


def kafka_producer(env: BenchEnv, messages: int) -> dict[str, Any]:
    publisher = KafkaEventPublisher(env.infra().kafka_bootstrap)
    value = json.dumps({"benchmark": True, "padding": "x" * 900}).encode()
    topic = "payments.requested.dlq"  # nobody consumes it during the benchmark

    def one(i: int) -> None:
        publisher.publish(topic, f"k{i}", value, [("eventType", b"Benchmark")])

    one(-1)  # connect

    def one_at_a_time() -> None:
        for i in range(messages // 4):
            one(i)

    sequential = _rate(messages // 4, one_at_a_time)
    with ThreadPoolExecutor(max_workers=40) as pool:
        concurrent = _rate(messages, lambda: list(pool.map(one, range(messages))))
    publisher.close()
    return {
        "acksOneAtATimePerS": round(sequential, 1),
        "acks40InFlightPerS": round(concurrent, 1),
        "settings": "acks=all, enable.idempotence, linger.ms=1, lz4",
    }


def redis_round_trips(env: BenchEnv, count: int) -> dict[str, Any]:
    client = redis_client(env.infra().redis_url)
    client.set("bench:key", "v")
    sequential = _rate(count, lambda: [client.get("bench:key") for _ in range(count)])

    def pipelined() -> None:
        pipe = client.pipeline(transaction=False)
        for _ in range(count):
            pipe.get("bench:key")
        pipe.execute()

    return {
        "roundTripsPerS": round(sequential, 1),
        "pipelinedCommandsPerS": round(_rate(count, pipelined), 1),
    }


def mongo_inserts(env: BenchEnv, single: int, bulk: int) -> dict[str, Any]:
    client = mongo_client(env.infra().mongo_uri)
    coll = client["paygate_bench"][f"inserts_{uuid.uuid4().hex[:8]}"]
    coll.insert_one({"_id": "warm"})
    doc = {"status": "processing", "amountMinor": 4999, "currency": "EUR", "pad": "x" * 300}

    def singles() -> None:
        for i in range(single):
            coll.insert_one({"_id": f"s{i}", **doc})

    def bulk_insert() -> None:
        for start in range(0, bulk, 500):
            coll.insert_many(
                [{"_id": f"b{i}", **doc} for i in range(start, min(bulk, start + 500))],
                ordered=False,
            )

    ids = [f"b{i}" for i in range(0, bulk, max(1, bulk // single))][:single]

    def updates_by_id() -> None:
        for i in ids:
            coll.find_one_and_update({"_id": i}, {"$set": {"status": "succeeded"}})

    guarded = ids[: max(3, single // 50)]

    def updates_guarded() -> None:
        for i in guarded:
            coll.find_one_and_update(
                {"_id": i, "status": "succeeded"}, {"$set": {"status": "settled"}}
            )

    out = {
        "singleInsertsPerS": round(_rate(single, singles), 1),
        "bulkInsertedDocsPerS": round(_rate(bulk, bulk_insert), 1),
        "bulkBatch": 500,
        "collectionDocs": single + bulk + 1,
        # the project's FerretDB build indexes _id lookups within a second of a first insert
        "updatesByIdPerS": round(_rate(len(ids), updates_by_id), 1),
        # any filter beyond _id: FerretDB 1.24 decodes every document of the collection
        "updatesByIdAndStatusPerS": round(_rate(len(guarded), updates_guarded), 2),
    }
    coll.drop()
    client.close()
    return out


def webhook_receiver(env: BenchEnv, seconds: float, work: Path) -> dict[str, Any]:
    from harness.keys import merchant_directory  # noqa: PLC0415 - needs the bench env's Redis

    merchant = merchant_directory(env.infra()).create("Bench receiver ceiling")
    body = json.dumps({"type": "payment.succeeded", "data": {"transactionId": "tx_bench"}}).encode()
    headers = sign_webhook(merchant.webhook_secret, "msg_bench", int(time.time()), body)
    url = f"{env.infra().receiver_url}/hooks/{merchant.merchant_id}"
    argv = env.harness("receiver", "--host", "127.0.0.1", "--port", str(env.receiver_port))
    with running(env, work / "logs", [("receiver", argv, f"{env.infra().receiver_url}/received")]):
        result = run_wrk(url, seconds, body=body.decode(), headers=headers, work_dir=work)
    return result.as_dict()


def measure(env: BenchEnv, *, seconds: float, scale: int, work: Path) -> dict[str, Any]:
    return {
        "trivialEndpoint1": trivial_endpoint(env, seconds, work, 1),
        "trivialEndpoint2": trivial_endpoint(env, seconds, work, 2),
        "modelEndpoint1": trivial_endpoint(env, seconds, work, 1, route="model"),
        "kafkaProducer": kafka_producer(env, 2000 * scale),
        "redis": redis_round_trips(env, 2000 * scale),
        "mongo": mongo_inserts(env, 200 * scale, 2000 * scale),
        "webhookReceiver": webhook_receiver(env, seconds, work),
    }

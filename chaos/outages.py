"""Issue 16's scenarios: long outages, Redis losing everything, cold starts against a dependency
that is down, an acknowledgment lost while the message persisted, overlapping schedule runs, a
merchant endpoint that trickles. Each is audited like the others (chaos/judge.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pymongo
import redis
import requests

from chaos import faults
from chaos.context import Chaos
from chaos.judge import judge, policy_failure
from chaos.rebinding import RebindingResolver, payment_processed
from chaos.report import Row
from chaos.scenarios import SETTLE_S, _probe_payment, _sleep_until, service_down
from common.adapters.http_webhook_sender import HttpWebhookSender
from common.adapters.kafka_event_publisher import KafkaEventPublisher
from common.adapters.mongo_webhook_deliveries import MongoWebhookDeliveries
from common.adapters.redis_slow_endpoints import RedisSlowEndpoints
from common.dead_letters import RETRIES_EXHAUSTED
from common.domain.webhooks import webhook_id
from common.system_clock import SystemClock
from functions.notify.service import NotifyPolicy, NotifyService
from harness.template import REPO_ROOT
from harness.traffic import Submission

LONG_OUTAGE_S = 300.0
"""Longer than the event source mapping's 10 retries (about 3 minutes with its back-off): the
records dead-letter, and only the redrive brings their payments to a terminal state."""


def _refused_between(start: float, lifted: float) -> Callable[[Submission], bool]:
    """The answer the fault explains: a 503 for a request sent from `start` until clients
    reconnected, 10 s after the fault was lifted."""
    return lambda s: s.status == 503 and start <= s.submitted_at <= lifted + 10


def _dead_letters(chaos: Chaos) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(chaos.stack.harness("dlq", "list", "--json"))
    return rows


# -- 12: MongoDB down for 5 minutes -----------------------------------------------------------


def mongo_down_long(chaos: Chaos) -> Row:
    before = {r["position"] for r in _dead_letters(chaos)}
    row, *_ = service_down(chaos, 12, "mongodb", LONG_OUTAGE_S, refuses_intake=False, rate=1)
    row.name = "mongodb down 5 minutes (redrive)"
    new = [r for r in _dead_letters(chaos) if r["position"] not in before]
    exhausted = [r for r in new if r["condition"] == RETRIES_EXHAUSTED]
    row.check(bool(exhausted), "nothing ran out of retries: the outage did not test the redrive")
    left = [f"{r['position']} {r['state']}" for r in exhausted if r["state"] != "redriven"]
    row.check(not left, f"dead letters not redriven: {left[:5]}")
    row.notes.append(
        f"{len(exhausted)} records dead-lettered after their retries ran out, all redriven"
    )
    return row


# -- 13: Redis loses all its data ---------------------------------------------------------------


def _redis(chaos: Chaos) -> redis.Redis:
    return redis.Redis.from_url(chaos.stack.settings.redis_url, socket_timeout=5)


def redis_loses_everything(chaos: Chaos) -> Row:
    row = Row(13, "Redis loses all data", "", "FLUSHALL, Redis restarted empty, under load")
    load = chaos.load("redis flush", 3, 40).start()
    idem = f"chaos-flush-{int(time.time())}"
    _sleep_until(load.started_at + 6)
    first = _probe_payment(chaos, idempotency_key=idem)
    row.check(first.status_code == 202, f"payment before the flush: {first.status_code}")
    _sleep_until(load.started_at + 10)
    flushed_at = time.time()
    _redis(chaos).flushall()
    faults.stop_service(chaos.stack, "redis")
    faults.start_services(chaos.stack)
    back_at = time.time()
    time.sleep(2)
    again = _probe_payment(chaos, idempotency_key=idem)  # the same request, the same key
    load.join()
    result = load.settle(SETTLE_S)

    answer_ok = _refused_between(flushed_at - 2, back_at)
    judge(row, chaos, [load], [result], back_at, answer_ok=answer_ok, outcome_ok=policy_failure)
    row.check(again.status_code == 202, f"the replay after the flush: {again.status_code}")
    tx = first.json().get("transactionId") if first.status_code == 202 else None
    row.check(
        again.status_code != 202 or again.json().get("transactionId") == tx,
        "the replay after the flush named another transaction",
    )
    if tx is not None:
        bank = requests.get(f"{chaos.stack.settings.bank_url}/v1/authorizations/{tx}", timeout=10)
        charges = bank.json().get("calls", 0) if bank.ok else None
        status = _wait_terminal(chaos, tx)
        row.check(status == "succeeded", f"the replayed payment ended {status}")
        row.check(bank.ok and bool(bank.json().get("approved")), "the replayed payment: no charge")
        row.notes.append(f"replayed Idempotency-Key → same transaction, bank calls {charges}")
    row.notes.append(f"Redis empty and back in {back_at - flushed_at:.1f} s")
    return row


def _wait_terminal(chaos: Chaos, tx: str, timeout_s: float = 120) -> str | None:
    s, m = chaos.stack.settings, chaos.merchants[-1]
    deadline = time.monotonic() + timeout_s
    status = None
    while time.monotonic() < deadline:
        answer = requests.get(
            f"{s.api_url}/api/payments/{tx}", headers={"X-API-Key": m.api_key}, timeout=10
        )
        status = answer.json().get("status") if answer.ok else f"HTTP {answer.status_code}"
        if status in ("succeeded", "declined", "failed"):
            return status
        time.sleep(1)
    return status


# -- 14: Redis down while the workers cold-start --------------------------------------------------


def redis_down_cold_starts(chaos: Chaos) -> Row:
    row = Row(
        14, "Redis down at cold start", "", "Redis stopped 20 s; every poller killed meanwhile"
    )
    load = chaos.load("cold start", 3, 40).start()
    _sleep_until(load.started_at + 8)
    stop_at = time.time()
    faults.stop_service(chaos.stack, "redis")
    killed = []
    try:
        for component in ("process", "notify"):
            for i in range(len(faults.pollers(chaos.stack, component))):
                killed.append(faults.kill_poller(chaos.stack, component, i))
        time.sleep(20)
    finally:
        faults.start_services(chaos.stack)
    back_at = time.time()
    load.join()
    result = load.settle(SETTLE_S)

    answer_ok = _refused_between(stop_at - 2, back_at)
    judge(row, chaos, [load], [result], back_at, answer_ok=answer_ok, outcome_ok=policy_failure)
    row.notes.append(f"killed pollers {killed}; they cold-started without Redis")
    return row


# -- 15: the produce acknowledgment lost, the message persisted -----------------------------------


def kafka_ack_lost(chaos: Chaos) -> Row:
    row = Row(
        15, "broker ack lost", "", "Kafka SIGSTOPped 8 s (> KAFKA_PUBLISH_TIMEOUT_MS) mid-publish"
    )
    load = chaos.load("ack lost", 3, 30).start()
    _sleep_until(load.started_at + 8)
    paused_at = time.time()
    pid = faults.pause(chaos.stack, "kafka")
    try:
        time.sleep(8)
    finally:
        faults.resume(pid)
    resumed_at = time.time()
    load.join()
    result = load.settle(SETTLE_S)

    answer_ok = _refused_between(paused_at - 6, resumed_at)
    # a 503'd payment the bank charged anyway would show as charged for a payment its merchant
    # never saw accepted: the audit reads every authorization of the merchant
    judge(row, chaos, [load], [result], resumed_at, answer_ok=answer_ok, outcome_ok=policy_failure)
    refused = [s for s in load.submissions if s.status == 503]
    row.notes.append(f"{len(refused)} answered 503 during the pause")
    return row


# -- 16: a merchant's DNS name rebinding to loopback ----------------------------------------------


def dns_rebinding(chaos: Chaos) -> Row:
    """Notify as deployed (private addresses refused), its real sender and the stack's real
    deliveries ledger, against the stack's receiver on loopback: the name passes the
    delivery-time check with a public address and then points at loopback. The receiver must
    see nothing, and the attempt is recorded as failed, never as the receiver's 204."""
    row = Row(16, "DNS rebinding to loopback", "1 delivery", "name: public, then 127.0.0.1")
    merchant = chaos.merchant("rebinding")
    s = chaos.stack.settings
    port = s.receiver_port
    db: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        s.mongo_uri, serverSelectionTimeoutMS=5000, tz_aware=True
    )
    resolver = RebindingResolver(then="127.0.0.1")  # the system also says so of `localhost`
    try:
        deliveries = MongoWebhookDeliveries(db["paygate"])
        service = NotifyService(
            deliveries=deliveries,
            sender=HttpWebhookSender(timeout_s=2.0),
            slow=RedisSlowEndpoints(redis.Redis.from_url(s.redis_url), mark_s=60),
            secret_of=lambda _m: merchant.webhook_secret,
            resolve=resolver,
            publisher=KafkaEventPublisher(s.kafka_bootstrap),
            clock=SystemClock(),
            policy=NotifyPolicy(
                schedule=[3600],
                allow_private_urls=False,
                dead_letter_topic="webhooks.dlq",
                webhook_ports=frozenset({port}),
            ),
        )
        event = payment_processed(
            f"http://localhost:{port}/hooks/{merchant.merchant_id}", merchant.merchant_id
        )
        created = service.accept(event)
        row.check(created is not None, "the delivery was not created")
        if created is not None:
            attempt = service.deliver(created).attempts[-1]
            row.check(
                attempt.status_code is None, f"the attempt was answered {attempt.status_code}"
            )
            row.notes.append(f"attempt recorded as {attempt.error!r} after {attempt.latency_ms} ms")
        received = requests.get(
            f"{s.receiver_url}/received", params={"merchantId": merchant.merchant_id}, timeout=10
        ).json()
        row.check(not received, f"the receiver on loopback got {len(received)} requests")
        row.check(resolver.lookups == 1, f"the name was looked up {resolver.lookups} times")
        row.accepted = 1
    finally:
        db.close()
    row.check(not chaos.leaks(), f"leaks: {chaos.leaks()}")
    return row


# -- 17: two schedule runs at once ---------------------------------------------------------------


def two_schedules(chaos: Chaos) -> Row:
    row = Row(17, "two schedule runs at once", "", "a second NotifyFunction schedule, 503s first")
    load = chaos.load("two schedules", 2, 30)
    receiver = chaos.stack.settings.receiver_url
    behaviour = {"merchantId": load.merchant.merchant_id, "failNext": 60, "status": 503}
    requests.put(f"{receiver}/control", json=behaviour, timeout=10).raise_for_status()
    second = subprocess.Popen(
        [sys.executable, "-m", "harness", "schedule", "NotifyFunction", "--every", "1"],
        cwd=REPO_ROOT,
        env=chaos.stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        load.start()
        load.join()
        result = load.settle(SETTLE_S)
    finally:
        second.terminate()
        second.wait(10)
        behaviour["failNext"] = 0
        requests.put(f"{receiver}/control", json=behaviour, timeout=10).raise_for_status()
    judge(row, chaos, [load], [result], None, outcome_ok=policy_failure)
    received = requests.get(
        f"{receiver}/received", params={"merchantId": load.merchant.merchant_id}, timeout=30
    ).json()
    delivered: dict[str, int] = {}
    for d in received:
        if d["verified"] and 200 <= d["status_answered"] < 300:
            delivered[d["webhook_id"]] = delivered.get(d["webhook_id"], 0) + 1
    twice = [w for w, n in delivered.items() if n > 1]
    row.check(not twice, f"attempts sent twice (two 2xx for one webhook id): {twice[:5]}")
    retried = sum(1 for d in received if d["attempt"] > 1)
    row.check(retried > 0, "no retry went through the schedules")
    row.notes.append(f"{retried} scheduled attempts, none sent twice")
    return row


# -- 18: a merchant endpoint that trickles -------------------------------------------------------


def trickling_merchant(chaos: Chaos) -> Row:
    row = Row(
        18, "trickling merchant", "", "merchant answers 1 byte per 2 s for 30 s (timeout 10 s)"
    )
    load = chaos.load("trickle", 1.5, 40, via_proxy=True).start()
    try:
        _sleep_until(load.started_at + 5)
        chaos.proxy.set(trickle_s=2.0)
        time.sleep(30)
    finally:
        chaos.proxy.set(trickle_s=0.0)
    lifted = time.time()
    load.join()
    result = load.settle(SETTLE_S)
    judge(row, chaos, [load], [result], lifted)
    latencies = _attempt_latencies_s(chaos, list(result.payments))
    slowest = max(latencies, default=0.0)
    row.check(slowest <= 12.0, f"an attempt took {slowest:.1f} s (deadline 10 s)")
    row.check(chaos.proxy.stats.trickled > 0, "no delivery met the trickling endpoint")
    row.notes.append(f"slowest attempt {slowest:.1f} s over {len(latencies)} attempts")
    return row


def _attempt_latencies_s(chaos: Chaos, transaction_ids: list[str]) -> list[float]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        chaos.stack.settings.mongo_uri, serverSelectionTimeoutMS=5000
    )
    try:
        attempts = client["paygate"]["webhook_attempts"]
        out = []
        for tx in transaction_ids:
            prefix = webhook_id(tx)
            for n in range(1, 20):
                doc = attempts.find_one({"_id": f"{prefix}#0#{n}"})
                if doc is None:
                    break
                out.append(float(doc["latencyMs"]) / 1000)
        return out
    finally:
        client.close()

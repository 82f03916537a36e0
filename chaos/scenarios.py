"""The eleven scenarios of issue 8 (issue 16's are in chaos/outages.py). Each runs against
the chaos stack and returns its row.

Load scenarios follow one shape: start a steady payment load, inject the fault, lift it,
let the load finish, wait for the system to settle, then audit (chaos/judge.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
import requests
from confluent_kafka import Consumer, TopicPartition

from chaos import faults
from chaos.context import Chaos
from chaos.judge import judge, policy_failure
from chaos.load import wait_until
from chaos.report import Row
from harness.audit import PaymentTrace
from harness.traffic import TEST_CARDS, Submission, payment_body

SETTLE_S = 420.0
"""FerretDB on a shared 2-core machine: a backlog after a fault drains at a few payments/s."""


def _bank(chaos: Chaos, **controls: object) -> None:
    doc = {"latencyMs": 0, "errorRate": 0.0, "outage": False, **controls}
    requests.put(
        f"{chaos.stack.settings.bank_url}/control", json=doc, timeout=10
    ).raise_for_status()


def _sleep_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


# -- 1, 2: kill -9 pollers mid-batch -------------------------------------------------------


def kill_pollers(chaos: Chaos, component: str, number: int) -> Row:
    quick = chaos.quick
    rate, seconds = (3, 16) if quick else (3, 30)
    kills_at = [4.0, 9.0] if quick else [4.0 + 4 * i for i in range(6)]
    row = Row(
        number, f"kill -9 {component} worker", "", f"kill -9 a {component} poller x{len(kills_at)}"
    )
    if component == "process":
        _bank(chaos, latencyMs=300)  # batches are in flight when the kill lands
    else:
        chaos.proxy.set(mode="pass", latency_s=0.2)  # deliveries are in flight
    load = chaos.load(f"kill {component}", rate, seconds, via_proxy=component == "notify").start()
    killed = []
    try:
        for i, at in enumerate(kills_at):
            _sleep_until(load.started_at + at)
            faults.wait_pollers(chaos.stack, component, 2)
            killed.append(faults.kill_poller(chaos.stack, component, i))
        lifted = time.time()
        load.join()
    finally:
        _bank(chaos)
        chaos.proxy.set(mode="pass", latency_s=0)
    result = load.settle(SETTLE_S)
    judge(row, chaos, [load], [result], lifted, outcome_ok=policy_failure, scan_leaks=not quick)
    row.notes.append(f"killed pids {killed}")
    return row


def kill_process_workers(chaos: Chaos) -> Row:
    return kill_pollers(chaos, "process", 1)


def kill_notify_workers(chaos: Chaos) -> Row:
    return kill_pollers(chaos, "notify", 2)


# -- 3, 4, 5: infrastructure down ------------------------------------------------------------


def _component_pids(chaos: Chaos) -> dict[str, int | None]:
    return {
        name: chaos.stack.component(name).pid()
        for name in ("api", "process", "notify", "schedule", "bank", "receiver")
    }


def service_down(  # noqa: PLR0917
    chaos: Chaos,
    number: int,
    service: str,
    down_s: float,
    refuses_intake: bool,
    during: Callable[[], None] = lambda: None,
    rate: float = 3,
) -> tuple[Row, float, float, float]:
    """Load, stop `service` for `down_s`, start it again; returns the row (audited) and the
    times the service was gone, was asked to come back, and answered again."""
    seconds = down_s + 25
    row = Row(number, f"{service} down", "", f"{service} stopped {down_s:g} s, restarted")
    before = _component_pids(chaos)
    load = chaos.load(f"{service} down", rate, seconds).start()
    _sleep_until(load.started_at + 8)
    stop_at = time.time()
    faults.stop_service(chaos.stack, service)
    gone_at = time.time()
    try:
        _sleep_until(gone_at + down_s / 2)
        during()
        _sleep_until(gone_at + down_s)
    finally:
        restart_at = time.time()
        faults.start_services(chaos.stack)
    back_at = time.time()
    load.join()
    result = load.settle(SETTLE_S)

    def answer_ok(s: Submission) -> bool:
        # while the service is down (and until clients reconnect) the contract's answer is 503
        return refuses_intake and s.status == 503 and stop_at - 6 <= s.submitted_at <= back_at + 20

    judge(row, chaos, [load], [result], back_at, answer_ok=answer_ok, outcome_ok=policy_failure)
    if refuses_intake:
        # A 202 answered while the service is stopped would be a lie. One submitted then but
        # answered after the restart waited for the ack (up to KAFKA_PUBLISH_TIMEOUT_MS) and
        # is right; so is a replay of a payment accepted before the outage (its record).
        while_down = [
            s
            for s in load.submissions
            if gone_at + 1 < s.submitted_at
            and s.submitted_at + s.seconds < restart_at
            and s.accepted
            and not s.replayed
        ]
        row.check(
            not while_down, f"{len(while_down)} requests answered 202 while {service} was down"
        )
        refused = [s for s in load.submissions if s.status == 503]
        first_ok = min(
            (
                s.submitted_at
                for s in load.submissions
                if s.accepted and s.submitted_at > restart_at
            ),
            default=None,
        )
        row.notes.append(
            f"{len(refused)} answered 503 while down; first 202 "
            + (
                f"{first_ok - back_at:.1f} s after {service} answered again"
                if first_ok
                else "never"
            )
        )
    after = _component_pids(chaos)
    row.check(before == after, f"our processes were restarted: {before} → {after}")
    row.notes.append(
        f"{service} stopped in {gone_at - stop_at:.1f} s, back in {back_at - restart_at:.1f} s"
    )
    return row, gone_at, restart_at, back_at


def kafka_down(chaos: Chaos) -> Row:
    return service_down(chaos, 3, "kafka", 20, refuses_intake=True)[0]


def redis_down(chaos: Chaos) -> Row:
    key = _breaker_key(chaos)
    states: list[str] = []

    def during() -> None:
        # an intake request with a good key cannot be accepted without Redis
        answer = _probe_payment(chaos)
        states.append(f"probe without Idempotency-Key → {answer.status_code}")

    row, *_ = service_down(chaos, 4, "redis", 15, refuses_intake=True, during=during)
    row.check(all(s.endswith("503") for s in states), f"intake while Redis was down: {states}")
    closed, state = _breaker_closes(chaos, key)
    row.check(closed, f"breaker still {state} after Redis came back and probes succeeded")
    row.notes.append(f"breaker after: {state}")
    return row


def _group_offsets(chaos: Chaos, group: str, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": chaos.stack.settings.kafka_bootstrap, "group.id": group})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        committed = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return {tp.partition: tp.offset for tp in committed}
    finally:
        c.close()


def _dlq_count(chaos: Chaos, topic: str) -> int:
    c = Consumer(
        {"bootstrap.servers": chaos.stack.settings.kafka_bootstrap, "group.id": "chaos-dlq-count"}
    )
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        c.close()


def mongo_down(chaos: Chaos) -> Row:
    samples: list[dict[int, int]] = []
    dlq_before = _dlq_count(chaos, "payments.requested.dlq")

    def during() -> None:
        samples.append(_group_offsets(chaos, "paygate-process", "payments.requested"))

    row, _gone, _restart, _back = service_down(
        chaos, 5, "mongodb", 20, refuses_intake=False, during=during
    )
    samples.append(_group_offsets(chaos, "paygate-process", "payments.requested"))
    dlq_after = _dlq_count(chaos, "payments.requested.dlq")
    row.check(dlq_after == dlq_before, f"{dlq_after - dlq_before} payments dead-lettered")
    row.notes.append(f"committed offsets mid-outage {samples[0]}")
    return row


# -- 6: the bank ------------------------------------------------------------------------------


def _breaker_key(chaos: Chaos) -> str | None:
    client = redis.Redis.from_url(chaos.stack.settings.redis_url, socket_timeout=5)
    try:
        keys = [k.decode() for k in client.scan_iter(match="*breaker*state*")]
        return keys[0] if keys else None
    except redis.RedisError:
        return None
    finally:
        client.close()


def _breaker_state(chaos: Chaos, key: str | None) -> str | None:
    key = key or _breaker_key(chaos)
    if key is None:
        return None
    client = redis.Redis.from_url(chaos.stack.settings.redis_url, socket_timeout=5)
    try:
        value = client.get(key)
        return value.decode() if isinstance(value, bytes) else None
    finally:
        client.close()


def _breaker_closes(
    chaos: Chaos, key: str | None, timeout_s: float = 240
) -> tuple[bool, str | None]:
    """pybreaker moves from open to half-open only on a call: send a payment that the bank
    approves every few seconds until the shared breaker reads closed."""

    def closed() -> bool:
        if _breaker_state(chaos, key) in (None, "closed"):
            return True
        _probe_payment(chaos)  # a valid payment: one the API refused would never reach the bank
        return False

    ok = wait_until(closed, timeout_s, every_s=5)
    return ok, _breaker_state(chaos, key)


def bank_outage(chaos: Chaos) -> Row:
    row = Row(6, "bank outage, then slow bank", "", "bank 503 for 30 s, then 2 s per call for 20 s")
    load = chaos.load("bank", 2, 80).start()
    seen: set[str] = set()
    try:
        _sleep_until(load.started_at + 5)
        _bank(chaos, outage=True)
        outage_at = time.time()
        while time.time() < outage_at + 30:
            seen.add(str(_breaker_state(chaos, None)))
            time.sleep(0.5)
        _bank(chaos, latencyMs=2000)
        while time.time() < outage_at + 50:
            seen.add(str(_breaker_state(chaos, None)))
            time.sleep(0.5)
    finally:
        _bank(chaos)
    normal_at = time.time()
    load.join()
    result = load.settle(SETTLE_S)

    def outcome_ok(p: PaymentTrace) -> bool:
        # the policy: no bank decision within the retry budget → failed bank_unavailable
        return policy_failure(p) and p.submitted_at < normal_at + 15

    judge(row, chaos, [load], [result], normal_at, outcome_ok=outcome_ok)
    row.check("open" in seen, f"the breaker never opened (states seen: {sorted(seen)})")
    closed, state = _breaker_closes(chaos, None)
    row.check(closed, f"the breaker did not close after recovery ({state})")
    row.notes.append(f"breaker states seen during the outage: {sorted(seen)}")
    return row


# -- 7, 8: merchants --------------------------------------------------------------------------


def merchant_down(chaos: Chaos) -> Row:
    row = Row(7, "merchant down, then back", "", "merchant endpoint resets connections for 20 s")
    load = chaos.load("merchant down", 2, 40, via_proxy=True).start()
    try:
        _sleep_until(load.started_at + 8)
        chaos.proxy.set(mode="reset")
        time.sleep(20)
    finally:
        chaos.proxy.set(mode="pass")
    lifted = time.time()
    load.join()
    result = load.settle(SETTLE_S)
    judge(row, chaos, [load], [result], lifted)
    row.check(chaos.proxy.stats.reset > 0, "no delivery met the merchant while it was down")
    row.notes.append(f"proxy resets {chaos.proxy.stats.reset}")
    return row


def slow_merchant(chaos: Chaos) -> Row:
    row = Row(
        8, "slow merchant beside healthy ones", "", "one merchant hangs 12 s (> 10 s timeout)"
    )
    slow = chaos.load("slow merchant", 1.5, 40)
    healthy = chaos.load("healthy merchant", 1.5, 40)
    receiver = chaos.stack.settings.receiver_url
    requests.put(
        f"{receiver}/control",
        json={
            "merchantId": slow.merchant.merchant_id,
            "failNext": 1000,
            "status": 200,
            "hangSeconds": 12,
        },
        timeout=10,
    ).raise_for_status()
    try:
        slow.start()
        healthy.start()
        healthy.join()
        slow.join()
        healthy_result = healthy.settle(SETTLE_S)
    finally:
        requests.put(
            f"{receiver}/control",
            json={"merchantId": slow.merchant.merchant_id, "failNext": 0},
            timeout=10,
        ).raise_for_status()
    lifted = time.time()
    slow_result = slow.settle(SETTLE_S)
    judge(row, chaos, [slow, healthy], [slow_result, healthy_result], lifted)
    # healthy merchants' webhooks keep flowing: submit → webhook, cards the bank answers at once
    fast = sorted(
        p.first_webhook_at - p.submitted_at
        for p in healthy_result.payments.values()
        if p.first_webhook_at is not None
        and p.card is not None
        and p.card.number != "4000000000000259"
    )
    p95 = fast[int(0.95 * (len(fast) - 1))] if fast else None
    # healthy_result settled while the slow merchant still hung: its webhooks kept flowing
    row.check(p95 is not None and p95 < 60, f"healthy merchant's webhooks held up: p95 {p95} s")
    row.notes.append(
        f"healthy merchant submit→webhook p95 {p95 and round(p95, 1)} s (cards answered at once)"
    )
    return row


def _probe_payment(chaos: Chaos, idempotency_key: str | None = None) -> requests.Response:
    """One valid payment (an approving card; the same body every time) for the last merchant,
    under `idempotency_key` if one is given."""
    m, s = chaos.merchants[-1], chaos.stack.settings
    body = payment_body(
        TEST_CARDS[0], f"{s.receiver_url}/hooks/{m.merchant_id}", "probe", amount="1.00"
    )
    headers = {"X-API-Key": m.api_key}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return requests.post(f"{s.api_url}/api/payments", headers=headers, json=body, timeout=30)

"""Scenarios 9-11: poison records on the topics, hostile HTTP input, a replay storm."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import requests
from confluent_kafka import Consumer, Producer, TopicPartition

from chaos import fuzz
from chaos.context import Chaos
from chaos.judge import judge
from chaos.load import stuck, wait_until
from chaos.report import Row
from harness import traffic
from harness.processes import ManagedProcess
from harness.traffic import PlannedRequest, Submission

STRICT_API_PORT = 33001
"""A second API of the chaos stack with the deployed default: private webhook targets refused."""


# -- 9: poison records ------------------------------------------------------------------------


def poison_values(run: str) -> list[bytes | None]:
    return [
        b"not json at all",
        b"{}",
        b"[]",
        b"null",
        b'{"eventType": "PaymentRequested", "schemaVersion": 99}',
        b'{"eventType": "PaymentProcessed", "transactionId": 12}',
        b"\xff\xfe\x00\x01 binary",
        b'{"eventType": "PaymentRequested", "transactionId": "' + run.encode() + b'", "card": {}}',
        json.dumps({"deep": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}).encode(),
        b'{"a": "' + b"x" * 300_000 + b'"}',
        None,
    ]


def _dlq_keys(bootstrap: str, topic: str) -> dict[str, dict[str, str]]:
    """key → dlq.* headers of every record on a dead-letter topic."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"chaos-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    out: dict[str, dict[str, str]] = {}
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        for p in parts:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            c.assign([TopicPartition(topic, p, low)])
            seen = low
            while seen < high:
                batch = c.consume(500, timeout=5)
                if not batch:
                    break
                for m in batch:
                    if m.error() is not None:
                        continue
                    seen = max(seen, (m.offset() or 0) + 1)
                    key = m.key()
                    name = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
                    out[name] = {
                        str(h[0]): (
                            h[1].decode(errors="replace") if isinstance(h[1], bytes) else str(h[1])
                        )
                        for h in (m.headers() or [])
                    }
    finally:
        c.close()
    return out


def poison_records(chaos: Chaos) -> Row:
    row = Row(9, "poison records", "", "malformed records on every partition of both topics")
    s = chaos.stack.settings
    run = f"poison-{uuid.uuid4().hex[:8]}"
    load = chaos.load("poison", 3 if chaos.quick else 2, 12 if chaos.quick else 25).start()
    time.sleep(3)
    producer = Producer({"bootstrap.servers": s.kafka_bootstrap, "message.max.bytes": 2_000_000})
    expected: dict[str, list[str]] = {"payments.requested.dlq": [], "payments.processed.dlq": []}
    injected_at = time.time()
    for topic in ("payments.requested", "payments.processed"):
        for i, value in enumerate(poison_values(run)):
            for partition in range(6) if i < 3 else [i % 6]:
                key = f"{run}-{topic}-{i}-{partition}"
                producer.produce(topic, key=key.encode(), value=value, partition=partition)
                expected[f"{topic}.dlq"].append(key)
    row.check(producer.flush(30) == 0, "poison records were not all acknowledged by Kafka")
    load.join()
    result = load.settle(180 if chaos.quick else 420)
    missing: dict[str, list[str]] = {}

    def all_dead_lettered() -> bool:
        nonlocal missing
        missing = {}
        for dlq, keys in expected.items():
            found = _dlq_keys(s.kafka_bootstrap, dlq)
            gone = [k for k in keys if k not in found]
            no_reason = [k for k in keys if k in found and not found[k].get("dlq.reason")]
            if gone or no_reason:
                missing[dlq] = gone + [f"{k} (no dlq.reason)" for k in no_reason]
        return not missing

    row.check(wait_until(all_dead_lettered, 60, 2), f"not dead-lettered with a reason: {missing}")
    judge(row, chaos, [load], [result], injected_at, scan_leaks=not chaos.quick)
    row.notes.append(f"{sum(len(v) for v in expected.values())} poison records injected")
    return row


# -- 10: hostile HTTP input -------------------------------------------------------------------


def _strict_api(chaos: Chaos) -> ManagedProcess:
    env = dict(chaos.stack.env)
    env["PAYGATE_PARAMETER_OVERRIDES"] = (
        env["PAYGATE_PARAMETER_OVERRIDES"] + " AllowPrivateWebhookUrls=false"
    )
    return ManagedProcess(
        "api-strict",
        [
            sys.executable,
            "-m",
            "harness",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(STRICT_API_PORT),
        ],
        chaos.stack.settings.run_dir,
        env=env,
    )


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
        return True
    except requests.RequestException:
        return False


def _schemathesis(chaos: Chaos, api_key: str, report_dir: Path) -> list[str]:
    s = chaos.stack.settings
    argv = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{s.api_url}/openapi.json",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--mode",
        "all",
        "--max-examples",
        "150",
        "--header",
        f"X-API-Key: {api_key}",
        "--request-timeout",
        "30",
        "--seed",
        "8",
        "--suppress-health-check",
        "all",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    (report_dir / "schemathesis.txt").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        return [f"schemathesis failed (exit {result.returncode}): {result.stdout[-1500:]}"]
    return []


def hostile_input(chaos: Chaos) -> Row:
    row = Row(
        10, "hostile HTTP input", "", "schemathesis + own fuzzer (bodies, headers, SSRF bait)"
    )
    s = chaos.stack.settings
    merchant = chaos.merchant("fuzz")
    webhook_url = f"{s.receiver_url}/hooks/{merchant.merchant_id}"
    api_pid = chaos.stack.component("api").pid()
    cases = fuzz.body_cases(merchant.api_key, webhook_url, f"fuzz-{uuid.uuid4().hex[:6]}")
    started = time.time()
    answers = [fuzz.Answer(c, *fuzz.send_raw(s.host, s.api_port, c.raw)) for c in cases]
    problems = fuzz.judge(answers, lambda a: a.status == 202)
    strict = _strict_api(chaos)
    strict.start()
    try:
        row.check(
            wait_until(lambda: _answers(f"http://127.0.0.1:{STRICT_API_PORT}/health"), 60),
            "strict API did not start",
        )
        ssrf = fuzz.ssrf_cases(merchant.api_key, f"ssrf-{uuid.uuid4().hex[:6]}")
        ssrf_answers = [
            fuzz.Answer(c, *fuzz.send_raw(s.host, STRICT_API_PORT, c.raw)) for c in ssrf
        ]
        problems += fuzz.judge(ssrf_answers, lambda a: a.status == 202)
        row.check(
            all(a.status == 422 for a in ssrf_answers),
            "SSRF bait not answered 422: "
            + str([(a.case.label, a.status) for a in ssrf_answers if a.status != 422]),
        )
    finally:
        strict.stop()
    for p in problems:
        row.problems.append(p)
    if not chaos.quick:  # the short pass: `make test` runs tests/e2e/test_schemathesis.py
        row.problems += _schemathesis(chaos, merchant.api_key, s.run_dir)
    row.check(chaos.stack.component("api").pid() == api_pid, "the API process died")
    row.check(_answers(f"{s.api_url}/health"), "the API does not answer any more")
    accepted = [a for a in answers if a.status == 202]
    row.accepted = len(accepted)
    row.load = f"{len(answers)} fuzz + {len(ssrf)} SSRF requests" + (
        "" if chaos.quick else " + schemathesis"
    )
    settled = wait_until(lambda: not stuck(chaos.stack, [merchant.merchant_id]), 120, 2)
    row.check(
        settled, f"accepted fuzz payments stuck: {stuck(chaos.stack, [merchant.merchant_id])[:5]}"
    )
    row.recover_s = None
    found = chaos.leaks()
    row.check(not found, f"card numbers or API keys at rest: {found[:5]}")
    row.notes.append(
        f"fuzz answers: {sorted({a.status for a in answers})}; accepted (legitimate): "
        + ", ".join(a.case.label for a in accepted)
        + f"; {time.time() - started:.0f} s"
    )
    return row


# -- 11: replay storm -------------------------------------------------------------------------


def _storm(api_url: str, api_key: str, planned: PlannedRequest, n: int) -> list[Submission]:
    """`n` threads send the same request at the same instant (a barrier releases them)."""
    barrier = threading.Barrier(n)
    results: list[Submission] = []
    lock = threading.Lock()

    def fire() -> None:
        session = requests.Session()
        barrier.wait()
        answer = traffic.submit(session, api_url, api_key, planned)
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=fire) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def replay_storm(chaos: Chaos) -> Row:
    rounds = 2 if chaos.quick else 5
    row = Row(11, "replay storm", "", "one Idempotency-Key x100 concurrently")
    load = chaos.load("replay", 0, 0)  # a merchant and its audit; requests sent here
    s = chaos.stack.settings
    run = uuid.uuid4().hex[:8]
    submissions: list[Submission] = []
    for r in range(rounds):
        card = traffic.TEST_CARDS[r % 2]
        ref = f"storm-{run}-{r}"
        body = json.dumps(traffic.payment_body(card, load.webhook_url, ref)).encode()
        planned = PlannedRequest(
            "replay",
            "same Idempotency-Key x100",
            body,
            {**traffic.JSON, "Idempotency-Key": ref},
            202,
            card,
            ref,
            ref,
        )
        results = _storm(s.api_url, load.merchant.api_key, planned, 100)
        ids = {x.transaction_id for x in results if x.accepted}
        statuses = sorted({x.status for x in results})
        row.check(len(ids) == 1, f"round {r}: {len(ids)} transactions for one key")
        row.check(set(statuses) <= {202, 409}, f"round {r}: answers {statuses}")
        row.notes.append(f"round {r}: answers {dict(Counter(x.status for x in results))}")
        submissions += results
    load.submissions.extend(submissions)
    result = load.settle(180 if chaos.quick else 420)
    # 409 while the first is in flight is the contract's answer to a concurrent replay
    judge(row, chaos, [load], [result], None, answer_ok=lambda x: x.status == 409)
    row.load = f"{rounds} x 100 concurrent requests"
    row.check(result.accepted == rounds, f"{result.accepted} payments for {rounds} keys")
    return row

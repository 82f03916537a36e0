"""Killing notify pollers mid-way loses no webhook and creates no second delivery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from confluent_kafka import Producer

from common.domain.events import PaymentProcessed
from common.domain.payment import CardSummary
from common.domain.webhooks import webhook_id
from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from harness.template import REPO_ROOT

pytestmark = pytest.mark.e2e


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def test_kill_9_pollers_mid_way(infra: InfraSettings, receiver_url: str) -> None:
    shop = merchant_directory(infra).create("Restart Shop")
    url = f"{receiver_url}/hooks/{shop.merchant_id}"
    requests.put(
        f"{receiver_url}/control",
        json={"merchantId": shop.merchant_id, "failNext": 40, "status": 200, "hangSeconds": 1.0},
        timeout=5,
    )  # slow answers, so that kills land mid-batch: at 0.2 s, 16 senders at once delivered all
    # 40 between two looks at the receiver (0.3 s apart), and no kill came
    now = datetime.now(UTC)
    txs = [str(uuid.uuid4()) for _ in range(60)]
    producer = Producer({"bootstrap.servers": infra.kafka_bootstrap})
    for tx in txs:
        event = PaymentProcessed(
            event_id=str(uuid.uuid4()),
            occurred_at=now,
            transaction_id=tx,
            merchant_id=shop.merchant_id,
            status="succeeded",
            amount_minor=100,
            currency="EUR",
            webhook_url=url,
            card=CardSummary(
                brand="visa", last4="4242", exp_month=12, exp_year=2030, fingerprint="fp"
            ),
            attempts=1,
            created_at=now,
            processed_at=now,
        )
        producer.produce("payments.processed", key=tx.encode(), value=event.to_json())
    assert producer.flush(10) == 0

    env = dict(os.environ)
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "harness", "consume", "NotifyFunction", "--workers", "2"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "harness", "schedule", "NotifyFunction", "--every", "1"],
        cwd=REPO_ROOT,
        env={**env, "WEBHOOK_TIMEOUT_S": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        killed = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = requests.get(
                f"{receiver_url}/received", params={"merchantId": shop.merchant_id}, timeout=5
            ).json()
            got = {r["webhook_id"] for r in rows if r["verified"]}
            if got >= {webhook_id(tx) for tx in txs}:
                break
            if killed < 3 and len(got) > 10 * (killed + 1):
                for child in children(supervisor.pid)[:1]:
                    os.kill(child, signal.SIGKILL)  # the supervisor starts a new one
                    killed += 1
            time.sleep(0.3)
    finally:
        supervisor.terminate()
        scheduler.terminate()
        supervisor.wait(timeout=30)
        scheduler.wait(timeout=30)
    assert killed >= 1
    rows = [
        r
        for r in requests.get(
            f"{receiver_url}/received", params={"merchantId": shop.merchant_id}, timeout=5
        ).json()
        if r["verified"]
    ]
    ids = [r["webhook_id"] for r in rows]
    assert set(ids) == {webhook_id(tx) for tx in txs}  # none lost
    # one event id per payment: a kill between sending and recording can repeat an id (the
    # receiver dedupes on webhook-id), never create a second, different event
    assert len(set(ids)) == len(txs)

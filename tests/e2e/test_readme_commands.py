"""The README's commands, run as a reader would run them (make test runs this file)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pymongo
import requests

from common.adapters.mongo_payment_reader import MongoPaymentReader
from harness import stack
from harness.infra.settings import InfraSettings
from tests.harness_cli import run_harness
from tests.integration.intake_support import payment


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return run_harness(*args)


def test_keys_create_list_revoke() -> None:
    created = harness("keys", "create", "--merchant", "Test Web Shop", "--json")
    assert created.returncode == 0, created.stderr
    record = json.loads(created.stdout)
    assert set(record) == {"merchantId", "apiKey", "webhookSecret"}
    assert record["apiKey"].startswith("pgk_") and record["webhookSecret"].startswith("whsec_")

    listed = harness("keys", "list", "--json")
    mine = [m for m in json.loads(listed.stdout) if m["merchant_id"] == record["merchantId"]]
    assert mine and mine[0]["status"] == "active" and mine[0]["active_keys"] == 1
    assert record["apiKey"] not in listed.stdout

    assert harness("keys", "revoke", record["merchantId"]).returncode == 0
    assert harness("keys", "revoke", record["merchantId"]).returncode == 1
    assert harness("keys", "create", "--merchant", "   ").returncode == 2


def test_make_up_serves_the_api_on_3000_and_prints_a_curl(infra: InfraSettings) -> None:
    api = stack.components(infra)[0]
    was_running = api.process.pid() is not None
    up = harness("up")
    try:
        assert up.returncode == 0, up.stderr
        assert "http://127.0.0.1:3000" in up.stdout and "curl -si" in up.stdout
        # the printed curl is ready to paste: it creates a payment as it stands
        pasted = next(line for line in up.stdout.splitlines() if line.startswith("curl -si"))
        answer = subprocess.run(
            ["bash", "-c", pasted], capture_output=True, text=True, timeout=60, check=False
        )
        assert answer.stdout.startswith("HTTP/1.1 202"), answer.stdout + answer.stderr
        key = json.loads(harness("keys", "create", "--merchant", "Readme", "--json").stdout)
        r = requests.post(
            "http://127.0.0.1:3000/api/payments",
            json=payment(),
            timeout=30,
            headers={"X-API-Key": key["apiKey"], "Idempotency-Key": "order-1234"},
        )
        assert r.status_code == 202, r.text
        tx = r.json()["transactionId"]
        deadline = time.monotonic() + 60
        while True:  # processed by the 2 pollers `make up` started, against the bank simulator
            got = requests.get(
                f"http://127.0.0.1:3000/api/payments/{tx}",
                timeout=10,
                headers={"X-API-Key": key["apiKey"]},
            ).json()
            if got["status"] == "succeeded" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert got["status"] == "succeeded", got
        assert [h["status"] for h in got["history"]] == ["pending", "processing", "succeeded"]
        assert [a["result"] for a in got["bankAttempts"]] == ["approved"]

        # ...and its signed webhook reached the demo receiver, which verified it
        hooks = wait_for(
            lambda: requests.get(
                "http://127.0.0.1:8082/received", params={"transactionId": tx}, timeout=5
            ).json()
        )
        assert hooks[0]["verified"] and hooks[0]["type"] == "payment.succeeded"
        shown = wait_for(
            lambda: requests.get(
                f"http://127.0.0.1:3000/api/payments/{tx}",
                timeout=10,
                headers={"X-API-Key": key["apiKey"]},
            ).json()["webhook"]
        )
        assert shown["status"] == "delivered" and shown["webhookId"] == hooks[0]["webhook_id"]

        resend = requests.post(
            f"http://127.0.0.1:3000/api/payments/{tx}/webhook/resend",
            headers={"X-API-Key": key["apiKey"]},
            timeout=10,
        )
        assert resend.status_code == 202 and resend.json()["webhookId"] == shown["webhookId"]
        again = wait_for(
            lambda: [
                h
                for h in requests.get(
                    "http://127.0.0.1:8082/received", params={"transactionId": tx}, timeout=5
                ).json()
                if h["attempt"] == 2
            ]
        )
        assert again[0]["webhook_id"] == shown["webhookId"] and again[0]["verified"]
        status = harness("status")
        assert status.returncode == 0 and "api" in status.stdout
    finally:
        if not was_running:
            stack.down(infra)  # leave the infrastructure to the other tests


def wait_for(probe: Callable[[], Any], timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_invoke_rejects_unknown_functions_and_bad_events() -> None:
    assert harness("invoke", "NoSuchFunction", "--event", "x.json").returncode == 2
    assert harness("invoke", "IntakeFunction", "--event", "missing.json").returncode == 2


def test_invoke_runs_the_process_samples(infra: InfraSettings) -> None:
    poison = harness("invoke", "ProcessFunction", "--event", "events/process/poison-record.json")
    assert poison.returncode == 0, poison.stderr
    assert json.loads(poison.stdout) == {"batchItemFailures": []}
    # The sample's card token was sealed with a published sample key, not this machine's:
    # the payment ends `failed` with `invalid_card_token` instead of reaching the bank.
    sample = harness(
        "invoke", "ProcessFunction", "--event", "events/process/payment-requested.json"
    )
    assert sample.returncode == 0, sample.stderr
    db = pymongo.MongoClient(infra.mongo_uri, tz_aware=True).paygate
    record = MongoPaymentReader(db).get("3f1c9a52-8d1e-4b8e-9a51-2f6c1d0e7b11")
    assert record is not None and record.status == "failed"
    assert record.failure_reason == "invalid_card_token"
    # A record of the retry topic (due long ago): processed the same way at once.
    retry = harness("invoke", "ProcessFunction", "--event", "events/process/payment-retry.json")
    assert retry.returncode == 0, retry.stderr
    assert json.loads(retry.stdout) == {"batchItemFailures": []}
    record = MongoPaymentReader(db).get("8a4d2f70-5c3b-4e1a-9f62-7d0b3c9e1a24")
    assert record is not None and record.failure_reason == "invalid_card_token"
    due = harness("invoke", "ProcessFunction", "--event", "events/process/scheduled.json")
    assert due.returncode == 0, due.stderr
    assert set(json.loads(due.stdout)) == {"due", "acknowledged"}


def test_invoke_runs_the_notify_samples() -> None:
    due = harness("invoke", "NotifyFunction", "--event", "events/notify/scheduled.json")
    assert due.returncode == 0, due.stderr
    assert set(json.loads(due.stdout)) == {"due", "delivered"}
    # The sample's merchant does not exist here: the attempt is recorded as failed, no crash.
    sample = harness("invoke", "NotifyFunction", "--event", "events/notify/payment-processed.json")
    assert sample.returncode == 0, sample.stderr
    assert json.loads(sample.stdout) == {"batchItemFailures": []}

"""The demo webhook receiver, verifying with merchants' secrets from real Redis."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient

from common.webhook_signing import sign_webhook
from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from harness.receiver import create_receiver_app


def test_verifies_records_and_misbehaves_on_request(infra: InfraSettings) -> None:
    directory = merchant_directory(infra)
    shop = directory.create("Receiver Shop")
    client = TestClient(create_receiver_app(directory.webhook_secret, lambda: [shop.merchant_id]))
    body = json.dumps({"type": "payment.succeeded", "data": {"transactionId": "tx-1"}}).encode()

    def send(path: str, secret: str = shop.webhook_secret, webhook_id: str = "evt_1") -> int:
        headers = sign_webhook(secret, webhook_id, int(time.time()), body)
        return client.post(path, content=body, headers=headers).status_code

    assert send(f"/hooks/{shop.merchant_id}") == 204
    assert send("/hooks") == 204  # merchant found by trying the known secrets
    other = directory.create("Someone Else")
    assert send(f"/hooks/{shop.merchant_id}", secret=other.webhook_secret) == 401

    client.put("/control", json={"merchantId": shop.merchant_id, "failNext": 2, "status": 503})
    assert [send(f"/hooks/{shop.merchant_id}", webhook_id="evt_2") for _ in range(3)] == [
        503,
        503,
        204,
    ]
    rows = client.get("/received", params={"webhookId": "evt_2"}).json()
    assert [(r["attempt"], r["status_answered"], r["verified"]) for r in rows] == [
        (1, 503, True),
        (2, 503, True),
        (3, 204, True),
    ]
    bad = [r for r in client.get("/received").json() if not r["verified"]]
    assert len(bad) == 1 and bad[0]["reason"] == "no matching signature"
    assert rows[0]["transaction_id"] == "tx-1" and rows[0]["type"] == "payment.succeeded"

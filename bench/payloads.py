"""What the load tools send: a merchant of the benchmark's own and a payment body whose
reference (and the Idempotency-Key the tools add) is unique per request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.stack_env import BenchEnv


@dataclass(frozen=True)
class BenchMerchant:
    merchant_id: str
    api_key: str
    webhook_secret: str


def create_merchant(env: BenchEnv, name: str) -> BenchMerchant:
    from harness.keys import merchant_directory  # noqa: PLC0415 - reads the bench env

    new = merchant_directory(env.infra()).create(name)
    return BenchMerchant(new.merchant_id, new.api_key, new.webhook_secret)


def payment_body(env: BenchEnv, merchant_id: str, card: str = "4242424242424242") -> str:
    return json.dumps(
        {
            "amount": "49.99",
            "currency": "EUR",
            "webhookUrl": f"{env.infra().receiver_url}/hooks/{merchant_id}",
            "reference": "{{ID}}",
            "card": {"number": card, "expMonth": 12, "expYear": 2030, "cvc": "123"},
        },
        separators=(",", ":"),
    )


def body_file(env: BenchEnv, merchant_id: str, work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"payment-{merchant_id}.json"
    path.write_text(payment_body(env, merchant_id))
    return path


def headers(merchant: BenchMerchant) -> dict[str, str]:
    return {"X-API-Key": merchant.api_key, "Content-Type": "application/json"}

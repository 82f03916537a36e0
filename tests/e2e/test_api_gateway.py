"""The intake function through the API Gateway emulation (`python -m harness api`), over HTTP,
on real Kafka, Redis and the MongoDB-wire server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness.infra.settings import InfraSettings
from harness.template import REPO_ROOT
from tests.integration.intake_support import end_offsets, payment, read_since

pytestmark = pytest.mark.e2e


def headers(key: str, **extra: str) -> dict[str, str]:
    return {"X-API-Key": key, "Content-Type": "application/json", **extra}


def test_accept_replay_read_and_reject_over_http(api: str, api_key: str) -> None:
    body = payment()
    first = requests.post(
        f"{api}/api/payments",
        json=body,
        timeout=10,
        headers=headers(api_key, **{"Idempotency-Key": "e2e-1"}),
    )
    assert first.status_code == 202, first.text
    tx = first.json()["transactionId"]
    assert first.headers["Location"] == f"/api/payments/{tx}"

    again = requests.post(
        f"{api}/api/payments",
        json=body,
        timeout=10,
        headers=headers(api_key, **{"Idempotency-Key": "e2e-1"}),
    )
    assert again.status_code == 202 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"

    got = requests.get(f"{api}/api/payments/{tx}", headers=headers(api_key), timeout=10)
    assert got.status_code == 200 and got.json()["status"] == "pending"

    bad = requests.post(
        f"{api}/api/payments", json=payment(number="1234"), timeout=10, headers=headers(api_key)
    )
    assert bad.status_code == 422
    assert bad.headers["Content-Type"] == "application/problem+json"
    assert bad.json()["errors"][0]["field"] == "card.number"


def test_gateway_level_answers(api: str, api_key: str) -> None:
    assert requests.get(f"{api}/nope", timeout=10).json() == {"message": "Not Found"}
    assert requests.get(f"{api}/openapi.json", timeout=10).json()["openapi"].startswith("3.")
    huge = requests.post(
        f"{api}/api/payments",
        data=b"x" * (10 * 1024 * 1024 + 1),
        headers=headers(api_key),
        timeout=30,
    )
    assert huge.status_code == 413
    big = requests.post(
        f"{api}/api/payments", data=b"x" * 70_000, headers=headers(api_key), timeout=10
    )
    assert big.status_code == 413
    assert big.headers["Content-Type"] == "application/problem+json"
    fat_header = requests.get(f"{api}/health", headers={"X-Junk": "j" * 11_000}, timeout=10)
    assert fat_header.status_code == 431


def test_concurrent_payments_each_land_once(api: str, api_key: str, infra: InfraSettings) -> None:
    start = end_offsets(infra, "payments.requested")
    run = uuid.uuid4().hex[:8]

    def submit(i: int) -> requests.Response:
        return requests.post(
            f"{api}/api/payments",
            json=payment(),
            timeout=30,
            headers=headers(api_key, **{"Idempotency-Key": f"conc-{run}-{i}"}),
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(submit, range(48)))
    assert [r.status_code for r in responses] == [202] * 48
    ids = {r.json()["transactionId"] for r in responses}
    assert len(ids) == 48
    keys = [m.key().decode() for m in read_since(infra, "payments.requested", start)]
    assert sorted(k for k in keys if k in ids) == sorted(ids)


def test_invoke_runs_a_sample_event_like_sam_local_invoke(api_key: str) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "invoke",
            "IntakeFunction",
            "--event",
            "events/intake/create-payment.json",
            "--header",
            f"x-api-key={api_key}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["statusCode"] == 202
    assert json.loads(result["body"])["status"] == "pending"

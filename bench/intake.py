"""Intake at maximum throughput (wrk, loopback, keep-alive): the full `POST /api/payments`
(auth, idempotency, tokenization, Kafka acknowledgment) served directly by uvicorn with 1 and
2 processes, and through the API Gateway emulation (Mangum in Lambda-like worker processes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.payloads import BenchMerchant, headers, payment_body
from bench.services import running
from bench.stack_env import BenchEnv
from bench.tools import run_wrk


def server_argv(env: BenchEnv, mode: str, processes: int) -> list[str]:
    """`direct`: the FastAPI app under uvicorn; `apigw`: the API Gateway emulation."""
    argv = env.harness(
        "api", "--host", "127.0.0.1", "--port", str(env.api_port), "--concurrency", str(processes)
    )
    return [*argv, "--direct"] if mode == "direct" else argv


SCENARIOS: Sequence[tuple[str, str, int]] = (
    ("direct1", "direct", 1),
    ("direct2", "direct", 2),
    ("apigw2", "apigw", 2),
)


def throughput(
    env: BenchEnv,
    merchant: BenchMerchant,
    *,
    seconds: float,
    trivial_rps: dict[int, float],
    work: Path,
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{env.api_port}"
    body = payment_body(env, merchant.merchant_id)
    out: dict[str, Any] = {}
    for name, mode, processes in SCENARIOS:
        argv = server_argv(env, mode, processes)
        with running(env, work / "logs", [(f"api-{name}", argv, f"{url}/health")]):
            run_wrk(f"{url}/api/payments", 1, body=body, headers=headers(merchant), work_dir=work)
            result = run_wrk(
                f"{url}/api/payments",
                seconds,
                body=body,
                headers=headers(merchant),
                work_dir=work,
            )
        row = result.as_dict()
        row.update(
            mode=mode,
            processes=processes,
            rpsPerProcess=round(result.rps / processes, 1),
            ratioToTrivial=round(result.rps / trivial_rps[processes], 3),
            trivialRps=trivial_rps[processes],
        )
        out[name] = row
    return out

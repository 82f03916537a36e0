"""Intake at maximum throughput (wrk, loopback, keep-alive): the full `POST /api/payments`
(auth, idempotency, tokenization, Kafka acknowledgment) served directly by uvicorn with 1 and
2 processes, and through the API Gateway emulation (Mangum in Lambda-like execution
environments, 2 and the default 4); with the CPU every process of the server spent per
accepted POST over the measured run, from /proc."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cpu import cpu_seconds
from bench.payloads import BenchMerchant, headers, payment_body
from bench.services import running
from bench.stack_env import BenchEnv
from bench.tools import run_wrk
from harness.cli import API_ENVIRONMENTS


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
    ("apigw4", "apigw", API_ENVIRONMENTS),
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
        with running(env, work / "logs", [(f"api-{name}", argv, f"{url}/health")]) as up:
            run_wrk(f"{url}/api/payments", 1, body=body, headers=headers(merchant), work_dir=work)
            pids = up[f"api-{name}"].child_pids()
            cpu_before = cpu_seconds(pids)
            result = run_wrk(
                f"{url}/api/payments",
                seconds,
                body=body,
                headers=headers(merchant),
                work_dir=work,
            )
            cpu_s = cpu_seconds(pids) - cpu_before
        row = result.as_dict()
        accepted = result.requests - result.non2xx
        row.update(
            cpuMsPerRequest=round(cpu_s / accepted * 1000, 3) if accepted else None,
            mode=mode,
            processes=processes,
            rpsPerProcess=round(result.rps / processes, 1),
            # the trivial endpoint on as many processes as there are cores to share, at most
            ratioToTrivial=round(result.rps / trivial_rps[min(processes, 2)], 3),
            trivialRps=trivial_rps[min(processes, 2)],
        )
        out[name] = row
    return out

"""Intake latency at fixed arrival rates, open loop (bench/loadgen: each latency counts from
the request's scheduled send time, so queueing behind a slow answer is charged, no coordinated
omission), against the direct server mode with 2 processes; and the rate at which p99 crosses
the threshold (linear interpolation between the two measured rates around it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.intake import server_argv
from bench.payloads import BenchMerchant, body_file, headers
from bench.services import running
from bench.stack_env import BenchEnv
from bench.tools import run_loadgen

P99_THRESHOLD_MS = 50.0


def p99_crossing(points: Sequence[dict[str, Any]], threshold_ms: float) -> float | None:
    """The rate where p99 first exceeds the threshold; None if it never does.
    A saturated run counts as over it."""
    previous: dict[str, Any] | None = None
    for point in sorted(points, key=lambda p: p["rate"]):
        p99 = float("inf") if point["saturated"] else point["latencyMs"]["p99"]
        if p99 > threshold_ms:
            if previous is None:
                return float(point["rate"])
            lo, hi = float(previous["rate"]), float(point["rate"])
            lo_p99 = float(previous["latencyMs"]["p99"])
            if p99 == float("inf"):
                return hi
            return round(lo + (hi - lo) * (threshold_ms - lo_p99) / (p99 - lo_p99), 1)
        previous = point
    return None


def sweep(
    env: BenchEnv,
    merchant: BenchMerchant,
    *,
    rates: Sequence[float],
    seconds: float,
    processes: int,
    work: Path,
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{env.api_port}"
    body = body_file(env, merchant.merchant_id, work)
    points = []
    argv = server_argv(env, "direct", processes)
    with running(env, work / "logs", [("api-latency", argv, f"{url}/health")]):
        run_loadgen(f"{url}/api/payments", 50, 1, body_file=body, headers=headers(merchant))
        for rate in rates:
            point = run_loadgen(
                f"{url}/api/payments",
                rate,
                seconds,
                body_file=body,
                headers=headers(merchant),
                id_prefix=f"lat{rate:g}",
            )
            points.append(point)
    return {
        "server": f"direct, {processes} processes",
        "points": points,
        "p99ThresholdMs": P99_THRESHOLD_MS,
        "p99CrossesThresholdAtRps": p99_crossing(points, P99_THRESHOLD_MS),
    }

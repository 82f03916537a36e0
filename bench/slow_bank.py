"""Issue 14's benchmark: healthy cards' submit→webhook latency with and without cards the bank
answers too late in the mix, and the money audit of both.

On fresh infrastructure with the whole stack as `harness up` starts it: a warm-up, then for
each mix `rate` payments/s for `seconds`, every `slow_every`-th on the late-approval card
(4000 0000 0000 0259: the bank approves 30 s after the call, after the gateway's retry budget)
and the rest on 4242 4242 4242 4242; every payment must settle (terminal, its webhook
verified). Reported: the healthy cards' latency percentiles, the outcomes, reversals, and the
audit's money counts (charged but not succeeded, succeeded but not charged, charged twice),
which must be 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.payloads import create_merchant
from bench.services import BenchError, harness_run, infra_fresh, keep_stack_logs
from bench.stack_env import BenchEnv
from common.adapters.mongo_connection import mongo_client
from common.adapters.mongo_payment_reader import MongoPaymentReader
from harness import traffic
from harness.audit import Audit, Sources, percentile, settle
from harness.template import REPO_ROOT

HEALTHY = traffic.TEST_CARDS[0]
LATE = next(c for c in traffic.TEST_CARDS if c.number == "4000000000000259")


@dataclass(frozen=True)
class SlowBankConfig:
    rate: float = 10.0
    seconds: float = 20.0
    slow_every: int = 20
    warmup_s: float = 3.0
    settle_timeout_s: float = 120.0


def plan(
    count: int, webhook_url: str, run_id: str, slow_every: int
) -> list[traffic.PlannedRequest]:
    """`count` payments; every `slow_every`-th (0: none) on the late-approval card."""
    return [
        traffic.planned_payment(
            LATE if slow_every and (i + 1) % slow_every == 0 else HEALTHY, webhook_url, run_id, i
        )
        for i in range(count)
    ]


def figures(a: Audit) -> dict[str, Any]:
    healthy = sorted(
        p.first_webhook_at - p.submitted_at
        for p in a.payments.values()
        if p.first_webhook_at is not None and p.card == HEALTHY
    )

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {
        "accepted": a.accepted,
        "lost": len(a.lost),
        "outcomes": dict(a.outcomes),
        "wrongOutcomes": len(a.wrong_outcomes),
        "healthy": len(healthy),
        "healthyP50S": r(percentile(healthy, 50)),
        "healthyP95S": r(percentile(healthy, 95)),
        "healthyP99S": r(percentile(healthy, 99)),
        "healthyMaxS": r(healthy[-1] if healthy else None),
        "reversals": a.reversals,
        "chargedNotSucceeded": len(a.charged_not_succeeded),
        "succeededNotCharged": len(a.succeeded_not_charged),
        "doubleCharged": len(a.double_charged),
    }


def _run(env: BenchEnv, cfg: SlowBankConfig, label: str, slow_every: int) -> dict[str, Any]:
    infra = env.infra()
    merchant = create_merchant(env, f"Bench slow bank {label}")
    webhook_url = f"{infra.receiver_url}/hooks/{merchant.merchant_id}"
    count = max(1, round(cfg.rate * cfg.seconds))
    submissions = traffic.send(
        infra.api_url, merchant.api_key, plan(count, webhook_url, label, slow_every), cfg.rate
    )
    client = mongo_client(infra.mongo_uri)
    try:
        sources = Sources(
            MongoPaymentReader(client["paygate"]),
            infra.bank_url,
            infra.receiver_url,
            merchant.merchant_id,
        )
        audit = settle(submissions, sources, cfg.settle_timeout_s)
    finally:
        client.close()
    return figures(audit)


def measure(
    env: BenchEnv, cfg: SlowBankConfig, work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    work = work / "slow-bank"
    out: dict[str, Any] = {
        "rate": cfg.rate,
        "seconds": cfg.seconds,
        "slowEvery": cfg.slow_every,
    }
    infra_fresh(env)
    try:
        harness_run(env, REPO_ROOT, "up")
        warm = _run(env, SlowBankConfig(cfg.rate, cfg.warmup_s, 0), "warmup", 0)
        if warm["lost"]:
            raise BenchError(f"warm-up: {warm['lost']} payments did not settle")
        for key, every in (("withoutSlowCards", 0), ("withSlowCards", cfg.slow_every)):
            out[key] = _run(env, cfg, key, every)
            f = out[key]
            log(
                f"  slow bank, {key}: healthy p50 {f['healthyP50S']} s, p99 {f['healthyP99S']} s"
                f", reversals {f['reversals']}, charged but not succeeded "
                f"{f['chargedNotSucceeded']}, succeeded but not charged {f['succeededNotCharged']}"
            )
    finally:
        harness_run(env, REPO_ROOT, "down", check=False)
        keep_stack_logs(env, work / "logs")
    return out

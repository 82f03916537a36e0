"""Whole-system CPU seconds per settled payment, by component (bench/cpu.py finds the
processes and groups them).

The stack is the one `python -m harness up` runs (the API Gateway emulation with its
execution environments, 2 pollers each for ProcessFunction and NotifyFunction, the schedule,
the bank simulator, the demo receiver, Kafka, Redis, FerretDB), on fresh data, bank latency
0 ms, warmed up by a few payments; then bench/loadgen (not counted) sends `rate` payments/s
for `seconds`. The window runs from just before the first submit until every accepted
payment settled: the receiver holds a verified, acknowledged webhook of a terminal status for
it (notify sends one only for an outcome already recorded). Only the receiver is asked, once
the sending is over, so the check itself costs the measured processes almost nothing.

With a baseline commit, the same measurement runs first with the whole project tree at that
commit (bench/worktree.py), and both are reported side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench import cpu, worktree
from bench.payloads import body_file, create_merchant, headers
from bench.services import BenchError, harness_run, infra_fresh, keep_stack_logs
from bench.stack_env import BenchEnv
from bench.tools import ToolError, run_loadgen
from harness import stack
from harness.audit import TERMINAL
from harness.infra.native import native_services
from harness.template import REPO_ROOT

TERMINAL_TYPES = frozenset(f"payment.{status}" for status in TERMINAL)
"""Webhook event types of a terminal payment (common/domain/webhooks.py: payment.<status>)."""


@dataclass(frozen=True)
class CpuConfig:
    rate: float
    seconds: float
    warmup_rate: float
    warmup_s: float
    settle_timeout_s: float = 120.0


@dataclass(frozen=True)
class Window:
    """One measured run: what was sent and settled, and the CPU each component used."""

    load: dict[str, Any]
    accepted: int
    settled: int
    wall_s: float
    polls: int
    cpu: dict[str, cpu.ComponentCpu]
    not_counted: list[str]


# ---------------------------------------------------------------- pure


def settled(deliveries: Iterable[Mapping[str, Any]], accepted: Collection[str]) -> set[str]:
    """Accepted payments with a verified webhook of a terminal status that the receiver
    acknowledged (2xx), from the receiver's GET /received rows."""
    return {
        d["transaction_id"]
        for d in deliveries
        if d["verified"]
        and 200 <= d["status_answered"] < 300
        and d["type"] in TERMINAL_TYPES
        and d["transaction_id"] in accepted
    }


def accepted_ids(records: Iterable[str]) -> set[str]:
    """Transaction ids of the 202s in bench/loadgen's records (JSON lines)."""
    out = set()
    for line in records:
        if line.strip():
            r = json.loads(line)
            if r["status"] == 202 and r["transactionId"]:
                out.add(str(r["transactionId"]))
    return out


def figures(
    use: Mapping[str, cpu.ComponentCpu], settled_count: int, wall_s: float, cores: int
) -> dict[str, Any]:
    """ms of CPU per settled payment by component and in total, the cores kept busy, and the
    payments/s the machine could carry at that cost (`cores` x 1000 ms of CPU per second)."""

    def per_payment(seconds: float) -> float | None:
        return round(1000 * seconds / settled_count, 2) if settled_count else None

    total_s = sum(use[name].seconds for name in cpu.COMPONENTS)
    total_ms = per_payment(total_s)
    ceiling_ms = 1000 * cores
    left_out = use.get(cpu.NOT_COUNTED)
    return {
        "components": {
            name: {
                "label": label,
                "processes": use[name].processes,
                "cpuS": round(use[name].seconds, 3),
                "msPerPayment": per_payment(use[name].seconds),
            }
            for name, label in cpu.COMPONENTS.items()
        },
        "totalCpuS": round(total_s, 3),
        "totalMsPerPayment": total_ms,
        "coresBusy": round(total_s / wall_s, 2) if wall_s else None,
        "cores": cores,
        "ceilingMsPerS": ceiling_ms,
        "impliedMaxPaymentsPerS": round(ceiling_ms / total_ms, 1) if total_ms else None,
        "notCountedCpuS": round(left_out.seconds, 3) if left_out else 0.0,
    }


# ---------------------------------------------------------------- the stack


def stack_pids(env: BenchEnv) -> list[int]:
    """The pids the project recorded for what `harness up` started (the pid files of
    harness/processes.py): the roots of the trees bench/cpu.py reads."""
    s = env.infra()
    processes = [c.process for c in stack.components(s)] + [n.process for n in native_services(s)]
    return [pid for p in processes if (pid := p.pid()) is not None]


def _wait_settled(
    receiver_url: str, merchant_id: str, accepted: Collection[str], timeout_s: float
) -> tuple[set[str], int]:
    """Poll the receiver every 0.5 s until every accepted payment settled or `timeout_s`;
    (the settled ones, how many polls)."""
    deadline = time.monotonic() + timeout_s
    polls = 0
    done: set[str] = set()
    while True:
        polls += 1
        try:
            answer = requests.get(
                f"{receiver_url}/received", params={"merchantId": merchant_id}, timeout=30
            )
            answer.raise_for_status()
            done = settled(answer.json(), accepted)
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
        if len(done) == len(accepted) or time.monotonic() > deadline:
            return done, polls
        time.sleep(0.5)


def measured_run(
    env: BenchEnv, rate: float, seconds: float, *, work: Path, label: str, timeout_s: float
) -> Window:
    infra = env.infra()
    merchant = create_merchant(env, f"Bench CPU {label}")
    records = work / f"cpu-{label}.jsonl"
    body = body_file(env, merchant.merchant_id, work)
    roots = stack_pids(env)
    before = cpu.snapshot(roots)
    started = time.monotonic()
    load = run_loadgen(
        f"{infra.api_url}/api/payments",
        rate,
        seconds,
        body_file=body,
        headers=headers(merchant),
        records=records,
        id_prefix=f"cpu-{label}",
    )
    accepted = accepted_ids(records.read_text().splitlines())
    done, polls = _wait_settled(infra.receiver_url, merchant.merchant_id, accepted, timeout_s)
    after = cpu.snapshot(roots)
    wall_s = time.monotonic() - started
    return Window(
        load=load,
        accepted=len(accepted),
        settled=len(done),
        wall_s=wall_s,
        polls=polls,
        cpu=cpu.cpu_by_component(before, after, cpu.ticks_per_second()),
        not_counted=cpu.not_counted(before, after),
    )


def _tree_label(root: Path) -> dict[str, Any]:
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", "common", "functions", "harness", "template.yaml"],
        cwd=root,
        check=False,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {"commit": worktree.short_commit(root), "uncommittedChanges": bool(changed)}


def measure_tree(
    env: BenchEnv,
    cfg: CpuConfig,
    *,
    root: Path,
    work: Path,
    log: Callable[[str], None],
    name: str,
) -> dict[str, Any]:
    """Fresh infrastructure and `harness up` from the tree at `root`, a warm-up, the
    measured run, `harness down`; `name` ("current", "baseline") keeps its files apart."""
    worktree.imported_from(root, env.process_env(root))
    label = _tree_label(root)
    work = work / name
    infra_fresh(env, root)
    try:
        harness_run(env, root, "up")
        warm = measured_run(
            env,
            cfg.warmup_rate,
            cfg.warmup_s,
            work=work,
            label="warmup",
            timeout_s=cfg.settle_timeout_s,
        )
        if warm.settled < warm.accepted or not warm.accepted:
            raise BenchError(
                f"warm-up: {warm.settled} of {warm.accepted} accepted payments settled in "
                f"{warm.wall_s:.0f} s (logs: {work / 'logs'})"
            )
        run = measured_run(
            env, cfg.rate, cfg.seconds, work=work, label="measured", timeout_s=cfg.settle_timeout_s
        )
    finally:
        harness_run(env, root, "down", check=False)
        keep_stack_logs(env, work / "logs")
    cores = len(os.sched_getaffinity(0))
    result = {
        **label,
        "sent": run.load["sent"],
        "accepted": run.accepted,
        "settled": run.settled,
        "allSettled": run.settled == run.accepted,
        "intakeErrors": run.load["errors"],
        "intakeP99Ms": run.load["latencyMs"]["p99"],
        "wallS": round(run.wall_s, 1),
        "settlePolls": run.polls,
        **figures(run.cpu, run.settled, run.wall_s, cores),
        "notCounted": run.not_counted,
    }
    log(
        f"  {name} ({label['commit']}): {run.settled}/{run.accepted} settled in "
        f"{run.wall_s:.1f} s, {result['totalMsPerPayment']} ms CPU per payment"
    )
    return result


def _baseline(
    env: BenchEnv, cfg: CpuConfig, commit: str, work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """The measurement with the tree at `commit`, or why it could not be made."""
    try:
        with worktree.checked_out(commit) as root:
            return measure_tree(env, cfg, root=root, work=work, log=log, name="baseline")
    except (BenchError, ToolError, requests.RequestException, subprocess.SubprocessError) as exc:
        log(f"  baseline {commit} not measured: {exc}")
        return {"commit": commit, "error": f"{type(exc).__name__}: {exc}"}


def measure(
    env: BenchEnv,
    cfg: CpuConfig,
    work: Path,
    log: Callable[[str], None],
    baseline: str | None = None,
) -> dict[str, Any]:
    work = work / "cpu"
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"rate": cfg.rate, "seconds": cfg.seconds, "bankLatencyMs": 0}
    if baseline:
        log(f"cpu per settled payment, the tree at {baseline}")
        out["baseline"] = _baseline(env, cfg, baseline, work, log)
    log("cpu per settled payment, the working tree")
    out["current"] = measure_tree(env, cfg, root=REPO_ROOT, work=work, log=log, name="current")
    return out

"""`python -m bench [--smoke] [--only cpu|store] [--cpu-baseline COMMIT]`: start the
benchmark's own stack, run every scenario, write docs/benchmarks/results.json, README.md and
the plots, stop what it started.

--smoke: a few seconds per scenario (checks the machinery, not the performance); it writes
to --out (default: a temporary folder), never over the committed report. --only cpu: only
the whole-system CPU per settled payment (a couple of minutes), likewise to --out. --only
store: only GET, the webhook schedule's run and a resend with a small and a large store
(bench/store_size.py), likewise to --out.
--cpu-baseline COMMIT: that measurement also with the project tree at COMMIT, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import (
    ceilings,
    cpu_per_payment,
    endtoend,
    intake,
    latency,
    report,
    slow_bank,
    store_size,
)
from bench.payloads import create_merchant
from bench.services import infra_down, infra_fresh, work_dir
from bench.stack_env import FULL, SMOKE, BenchEnv
from bench.tools import ensure_loadgen, ensure_wrk
from harness.template import REPO_ROOT


@dataclass(frozen=True)
class Plan:
    wrk_s: float
    scale: int
    latency_rates: tuple[float, ...]
    latency_s: float
    e2e: endtoend.E2eConfig
    cpu: cpu_per_payment.CpuConfig
    store: store_size.StoreConfig
    slow: slow_bank.SlowBankConfig


FULL_PLAN = Plan(
    wrk_s=10,
    scale=2,
    latency_rates=(100, 250, 500, 750, 1000, 1500, 2000),
    latency_s=10,
    e2e=endtoend.E2eConfig(
        probe_rates=(5, 10, 20, 40, 80, 160, 320, 640, 1000),
        probe_s=10,
        sustain_s=60,
        latency_rates=(250, 500, 1000),
        latency_s=2,
        drain_s=20,
        bank_latencies_ms=(0, 50),
        profile_rate=200,
        profile_s=10,
        capacity_backlog=600,
        capacity_window_s=30,
        sustain_attempts=4,
        settle_run=(200, 20),
    ),
    cpu=cpu_per_payment.CpuConfig(rate=40, seconds=25, warmup_rate=40, warmup_s=10),
    store=store_size.StoreConfig(
        sizes=(1000, 20000), gets=300, schedule_runs=20, due_per_run=20, resends=200, warmup=10
    ),
    slow=slow_bank.SlowBankConfig(rate=10, seconds=20, slow_every=20, warmup_s=10),
)

SMOKE_PLAN = Plan(
    wrk_s=3,
    scale=1,
    latency_rates=(20, 50, 100),
    latency_s=1,
    e2e=endtoend.E2eConfig(
        probe_rates=(5,),
        probe_s=2,
        sustain_s=2,
        latency_rates=(10,),
        latency_s=1,
        drain_s=30,
        bank_latencies_ms=(0, 50),
        profile_rate=20,
        profile_s=1,
        capacity_backlog=0,
        capacity_window_s=0,
        settle_run=(10, 2),
    ),
    cpu=cpu_per_payment.CpuConfig(rate=5, seconds=2, warmup_rate=2, warmup_s=1),
    store=store_size.StoreConfig(
        sizes=(50, 200), gets=20, schedule_runs=3, due_per_run=5, resends=10, warmup=2
    ),
    slow=slow_bank.SlowBankConfig(rate=5, seconds=4, slow_every=5, warmup_s=2),
)


def _log(line: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {line}\n")
    sys.stderr.flush()


def _machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    ).stdout.strip()
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": commit,
        "loadAverageAtStart": [float(x) for x in load],
    }


def _partial(out: Path, results: dict[str, Any]) -> None:
    """What is measured so far, in case a later phase fails (results.partial.json)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.partial.json").write_text(json.dumps(results, indent=2) + "\n")


@dataclass(frozen=True)
class Options:
    only: str | None = None
    """A phase run alone ("intake", "cpu", "store", "slowbank"), or None for every phase."""
    cpu_baseline: str | None = None
    """A commit whose tree the CPU per payment is also measured with."""


def _all_phases(env: BenchEnv, plan: Plan, work: Path, out: Path, results: dict[str, Any]) -> None:
    _intake_phases(env, plan, work, out, results)
    results["endToEnd"] = endtoend.measure(env, plan.e2e, work, _log)
    _partial(out, results)


def _intake_phases(
    env: BenchEnv, plan: Plan, work: Path, out: Path, results: dict[str, Any]
) -> None:
    """The ceilings, intake's throughput and its latency (`--only intake`: a few minutes)."""
    ensure_wrk()
    _log(f"fresh infrastructure in {env.data_dir}")
    infra_fresh(env)
    _log("ceilings")
    results["ceilings"] = ceilings.measure(env, seconds=plan.wrk_s, scale=plan.scale, work=work)
    trivial = {
        1: results["ceilings"]["trivialEndpoint1"]["rps"],
        2: results["ceilings"]["trivialEndpoint2"]["rps"],
    }
    merchant = create_merchant(env, "Bench intake")
    _log("intake throughput")
    results["intake"] = intake.throughput(
        env, merchant, seconds=plan.wrk_s, trivial_rps=trivial, work=work
    )
    _log("intake latency, open loop")
    results["latency"] = latency.sweep(
        env, merchant, rates=plan.latency_rates, seconds=plan.latency_s, processes=2, work=work
    )
    _partial(out, results)


def run(env: BenchEnv, plan: Plan, out: Path, options: Options | None = None) -> dict[str, Any]:
    options = options or Options()
    started = time.time()
    ensure_loadgen()
    work = work_dir(env)  # logs, records, profiles: kept until the next run
    shutil.rmtree(work, ignore_errors=True)
    results: dict[str, Any] = {
        "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "smoke": plan is SMOKE_PLAN,
        "only": options.only,
        "plan": asdict(plan),
        "machine": _machine(),
    }
    try:
        if options.only is None:
            _all_phases(env, plan, work, out, results)
        elif options.only == "intake":
            _intake_phases(env, plan, work, out, results)
        # each on its own fresh infrastructure and stack (`harness up`), stopped when done
        if options.only in (None, "cpu"):
            results["cpuPerPayment"] = cpu_per_payment.measure(
                env, plan.cpu, work, _log, baseline=options.cpu_baseline
            )
            _partial(out, results)
        if options.only in (None, "store"):
            results["storeSize"] = store_size.measure(env, plan.store, work, _log)
            _partial(out, results)
        if options.only in (None, "slowbank"):
            results["slowBank"] = slow_bank.measure(env, plan.slow, work, _log)
    finally:
        infra_down(env)
    results["seconds"] = round(time.time() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.partial.json").unlink(missing_ok=True)
    report.write(results, out)
    _log(f"wrote {out / 'results.json'} and {out / 'README.md'} in {results['seconds']:.0f}s")
    return results


def _terminate(_sig: int, _frame: object) -> None:
    raise SystemExit("bench: terminated")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite README.md and the plots from the results.json already in --out",
    )
    parser.add_argument(
        "--only",
        choices=["intake", "cpu", "store", "slowbank"],
        default=None,
        help="run one phase alone: intake = the ceilings, intake's throughput (and CPU per "
        "accepted POST) and its open-loop latency; cpu = whole-system CPU per settled payment; "
        "store = GET, "
        "the webhook schedule's run and a resend with a small and a large store "
        "; slowbank = healthy cards' latency with and without late-approval cards in the "
        "mix, and the money audit (writes to --out, default a temporary folder)",
    )
    parser.add_argument(
        "--cpu-baseline",
        metavar="COMMIT",
        default=None,
        help="measure the CPU per payment also with the project tree at COMMIT "
        "(a temporary git worktree), e.g. a85d09c",
    )
    args = parser.parse_args(argv)
    # SIGTERM (a timeout, Ctrl-C from make) unwinds like an exception, so the `finally`
    # blocks stop every server, poller and the infrastructure this run started.
    signal.signal(signal.SIGTERM, _terminate)
    env, plan = (SMOKE, SMOKE_PLAN) if args.smoke else (FULL, FULL_PLAN)
    out = args.out or (
        Path(tempfile.mkdtemp(prefix=f"bench-{args.only or 'smoke'}-"))
        if args.smoke or args.only
        else REPO_ROOT / "docs" / "benchmarks"
    )
    if args.report_only:
        source = out / "results.json"
        if not source.exists():
            source = out / "results.partial.json"
        partial = json.loads(source.read_text())
        partial.setdefault("seconds", 0.0)
        report.write(partial, out)
        return 0
    run(env, plan, out, Options(only=args.only, cpu_baseline=args.cpu_baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench [--smoke]`: start the benchmark's own stack, run every scenario, write
docs/benchmarks/results.json, README.md and the plots, stop what it started.

--smoke: a few seconds per scenario (checks the machinery, not the performance); it writes
to --out (default: a temporary folder), never over the committed report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import ceilings, endtoend, intake, latency, report
from bench.payloads import create_merchant
from bench.services import infra_down, infra_fresh
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
        sustain_attempts=3,
    ),
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
    ),
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


def run(env: BenchEnv, plan: Plan, out: Path) -> dict[str, Any]:
    started = time.time()
    ensure_wrk()
    ensure_loadgen()
    _log(f"fresh infrastructure in {env.data_dir}")
    infra_fresh(env)
    work = env.data_dir / "bench-work"  # logs, records, profiles: kept until the next run
    results: dict[str, Any] = {
        "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "smoke": plan is SMOKE_PLAN,
        "plan": asdict(plan),
        "machine": _machine(),
    }
    try:
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
        results["endToEnd"] = endtoend.measure(env, plan.e2e, work, _log)
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
    args = parser.parse_args(argv)
    # SIGTERM (a timeout, Ctrl-C from make) unwinds like an exception, so the `finally`
    # blocks stop every server, poller and the infrastructure this run started.
    signal.signal(signal.SIGTERM, _terminate)
    env, plan = (SMOKE, SMOKE_PLAN) if args.smoke else (FULL, FULL_PLAN)
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="bench-smoke-"))
        if args.smoke
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
    run(env, plan, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

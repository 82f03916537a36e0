"""Processing capacity before and after a change, in the same run: a backlog of payments is
put on the topic with the pollers stopped, then ProcessFunction's 2 pollers drain it for a
fixed window, once with the project's code as it was at a baseline commit (the pollers run
from an export of its common/, functions/, harness/ and template.yaml) and once with the
working tree's. Payments/s = how far the
group's lag fell over the window; webhooks/s likewise for NotifyFunction."""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.lag import current_lag, skip_until_empty
from bench.payloads import body_file, create_merchant, headers
from bench.stack_env import BenchEnv
from bench.tools import run_loadgen
from harness.template import REPO_ROOT

if TYPE_CHECKING:
    from bench.endtoend import Pipeline

BASELINE_COMMIT = "a85d09c"
"""The tree before the append-only ledger and batch-level I/O (issue 13)."""


def baseline_tree(commit: str, target: Path) -> Path:
    """The project's code (common/, functions/, harness/, template.yaml) as it was at
    `commit`: the two data models cannot be mixed."""
    archive = subprocess.run(
        [
            "git",
            "archive",
            "--format=tar",
            commit,
            "common",
            "functions",
            "harness",
            "template.yaml",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def drain_rate(
    env: BenchEnv, pipeline: Pipeline, *, backlog: int, window_s: float, work: Path, label: str
) -> dict[str, Any]:
    infra = env.infra()
    merchant = create_merchant(env, f"Bench capacity {label}")
    pipeline.stop()
    skip_until_empty(infra.kafka_bootstrap)
    load = run_loadgen(
        f"{infra.api_url}/api/payments",
        min(200.0, backlog / 2),
        2,
        body_file=body_file(env, merchant.merchant_id, work),
        headers=headers(merchant),
        id_prefix=f"cap-{label}",
    )
    pipeline.start()
    # the window starts when the first payment is taken (pollers started and joined)
    start_lag = current_lag(infra.kafka_bootstrap)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now_lag = current_lag(infra.kafka_bootstrap)
        if now_lag["paygate-process"] < start_lag["paygate-process"]:
            break
        time.sleep(0.2)
    first = current_lag(infra.kafka_bootstrap)
    started = time.monotonic()
    last = first
    # until the window ends or the backlog is gone (a rate over idle time would understate)
    while time.monotonic() - started < window_s and last["paygate-process"] > 0:
        time.sleep(0.5)
        last = current_lag(infra.kafka_bootstrap)
    elapsed = time.monotonic() - started
    processed = first["paygate-process"] - last["paygate-process"]
    return {
        "backlog": load["statuses"].get("202", 0),
        "windowS": round(elapsed, 1),
        "processedPerS": round(processed / elapsed, 1),
        "processLagLeft": last["paygate-process"],
        "notifyLagLeft": last["paygate-notify"],
    }


def before_after(
    env: BenchEnv, pipeline: Pipeline, *, backlog: int, window_s: float, work: Path
) -> dict[str, Any]:
    tree = baseline_tree(BASELINE_COMMIT, work / f"baseline-{BASELINE_COMMIT}")
    out: dict[str, Any] = {"baselineCommit": BASELINE_COMMIT}
    pipeline.root = tree
    try:
        out["before"] = drain_rate(
            env, pipeline, backlog=backlog, window_s=window_s, work=work, label="before"
        )
    finally:
        pipeline.root = None
    out["after"] = drain_rate(
        env, pipeline, backlog=backlog, window_s=window_s, work=work, label="after"
    )
    pipeline.stop()
    skip_until_empty(env.infra().kafka_bootstrap)
    pipeline.start()
    before = out["before"]["processedPerS"]
    out["speedup"] = round(out["after"]["processedPerS"] / before, 2) if before else None
    return out

"""Reads do not grow with the store: GET /api/payments/{id}, the webhook schedule's run and a
resend, measured with `sizes[0]` and then `sizes[1]` payments in the store, in one run on one
stack.

The stack is the one `python -m harness up` runs, on fresh data, less its schedule: the bench
is the schedule here, so that what it makes due for a measured run is leased by that run and
no other. The store holds one merchant's decided, delivered payments (bench/store_fill.py):
filled to the first size, measured, topped up to the second, measured again. At each size,
after a few operations of each kind that are not measured:

- GET: real HTTP GETs through the API Gateway emulation, one at a time on one keep-alive
  connection, of random payments; the latency of each, and the CPU FerretDB and the API
  (front and execution environments) used over all of them, per GET.
- schedule: NotifyFunction's scheduled invocation (the EventBridge event harness/scheduler.py
  sends) in a warm execution environment of the bench's own (harness/lambda_runtime.py's
  LambdaPool with the function's environment, logging at WARNING), each run with
  `due_per_run` deliveries due: that many payments are resent through
  MongoWebhookDeliveries.reschedule (what POST …/webhook/resend writes) just before it, not
  measured. The invocation's wall time, and the CPU FerretDB and the environment used in it.
- resend: real POST /api/payments/{id}/webhook/resend; latency, FerretDB and API CPU per
  resend. The rounds the resends leave due are then sent by scheduled runs (not measured),
  so the due-index is empty again before the next size.

GETs read payments never resent and each resend is of a payment resent by no one before (a
resend starts a round that every later read of that payment reads too), so the two sizes
read payments of the same shape. CPU is utime + stime from /proc (bench/cpu.py).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from pymongo.database import Database

from bench import cpu, store_fill
from bench.cpu_per_payment import stack_pids
from bench.payloads import create_merchant
from bench.services import BenchError, harness_run, infra_fresh, keep_stack_logs
from bench.stack_env import BenchEnv
from common.adapters.mongo_connection import mongo_client
from common.adapters.mongo_payment_ledger import BANK_ATTEMPTS, PAYMENT_CLAIMS, PAYMENT_OUTCOMES
from common.adapters.mongo_webhook_deliveries import (
    ATTEMPTS,
    DELIVERIES,
    DUE,
    LEASES,
    RESENDS,
    MongoWebhookDeliveries,
)
from common.domain.webhooks import webhook_id
from harness import stack
from harness.audit import percentile
from harness.infra.settings import InfraSettings
from harness.lambda_runtime import LambdaPool, function_spec
from harness.local_env import function_env
from harness.scheduler import schedule_rate_s, scheduled_event
from harness.template import REPO_ROOT

NOTIFY = "NotifyFunction"
COLLECTIONS = (
    PAYMENT_CLAIMS,
    PAYMENT_OUTCOMES,
    BANK_ATTEMPTS,
    DELIVERIES,
    RESENDS,
    LEASES,
    ATTEMPTS,
    DUE,
)
ID_INDEX_WAIT_S = 3.0
"""harness/infra/ferretdb/idindex.go gives a new collection its `_id` lookup index within a
second; every collection is created empty first and gets it before anything is measured."""
DRAIN_RUNS = 20
SEED = 20

RATIO_FIGURES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "get": (
        ("latencyMs", "median"),
        ("latencyMs", "p95"),
        ("mongoCpuMsPerOp", None),
        ("apiCpuMsPerOp", None),
    ),
    "schedule": (
        ("wallMs", "median"),
        ("wallMs", "p95"),
        ("mongoCpuMsPerRun", None),
        ("notifyCpuMsPerRun", None),
    ),
    "resend": (
        ("latencyMs", "median"),
        ("latencyMs", "p95"),
        ("mongoCpuMsPerOp", None),
        ("apiCpuMsPerOp", None),
    ),
}
"""The figures compared between the two sizes, by operation: (key, sub-key); a ratio's
name is "key.sub"."""


@dataclass(frozen=True)
class StoreConfig:
    sizes: tuple[int, int]
    gets: int
    schedule_runs: int
    due_per_run: int
    resends: int
    warmup: int
    """GETs and resends before the measured ones at each size, not measured (and one
    scheduled run)."""

    def __post_init__(self) -> None:
        small, large = self.sizes
        if not 0 < small < large:
            raise ValueError(f"sizes {self.sizes}: two, growing")
        if self.gets + self.warmup > small or resent_per_size(self) > small:
            raise ValueError(f"{small} payments are too few for {self}")
        if 2 * resent_per_size(self) > large:
            raise ValueError(f"{large} payments are too few for {self}")


def resent_per_size(cfg: StoreConfig) -> int:
    """Payments resent at one size: by the resends and to make deliveries due."""
    return cfg.warmup + cfg.resends + cfg.due_per_run * (cfg.schedule_runs + 1)


# ---------------------------------------------------------------- pure


class UnresentPayments:
    """The store's payments that nothing has resent yet, to draw from at random."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._ids: list[str] = []

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: Sequence[str]) -> None:
        self._ids.extend(ids)

    def sample(self, n: int) -> list[str]:
        """n distinct payments, left in the pool (to read)."""
        return self._rng.sample(self._ids, n)

    def take(self, n: int) -> list[str]:
        """n distinct payments, out of the pool from now on (to resend)."""
        picked = self.sample(n)
        gone = set(picked)
        self._ids = [i for i in self._ids if i not in gone]
        return picked


def latency_summary(ms: Sequence[float]) -> dict[str, float | None]:
    """Median, p95 (nearest rank) and max, in ms, rounded to 0.01."""
    if not ms:
        return {"median": None, "p95": None, "max": None}
    p95 = percentile(ms, 95)
    return {
        "median": round(statistics.median(ms), 2),
        "p95": None if p95 is None else round(p95, 2),
        "max": round(max(ms), 2),
    }


def per_op_ms(cpu_s: float, count: int) -> float | None:
    return round(1000 * cpu_s / count, 3) if count else None


def ratio(small: float | None, large: float | None) -> float | None:
    """large / small, None when either is missing or small is 0."""
    if small is None or large is None or small == 0:
        return None
    return round(large / small, 2)


def figure(op: Mapping[str, Any], key: str, sub: str | None) -> float | None:
    value = op[key] if sub is None else op[key][sub]
    return None if value is None else float(value)


def ratios(small: Mapping[str, Any], large: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every figure of RATIO_FIGURES at the larger size over the smaller, by operation."""
    return {
        op: {
            ".".join(p for p in (key, sub) if p): ratio(
                figure(small[op], key, sub), figure(large[op], key, sub)
            )
            for key, sub in figures
        }
        for op, figures in RATIO_FIGURES.items()
    }


@dataclass(frozen=True)
class Requests:
    """One measured series of HTTP requests."""

    ms: list[float]
    errors: int
    cpu: Mapping[str, cpu.ComponentCpu]


def request_figures(r: Requests) -> dict[str, Any]:
    n = len(r.ms)
    api_s = r.cpu["apiFront"].seconds + r.cpu["apiEnvironments"].seconds
    return {
        "count": n,
        "errors": r.errors,
        "latencyMs": latency_summary(r.ms),
        "mongoCpuMsPerOp": per_op_ms(r.cpu["mongo"].seconds, n),
        "apiCpuMsPerOp": per_op_ms(api_s, n),
    }


@dataclass(frozen=True)
class Run:
    """One scheduled invocation: what it answered and what it cost."""

    wall_ms: float
    due: int
    delivered: int
    mongo_cpu_s: float
    notify_cpu_s: float


def schedule_figures(runs: Sequence[Run], due_per_run: int) -> dict[str, Any]:
    n = len(runs)
    return {
        "runs": n,
        "duePerRun": due_per_run,
        "due": sum(r.due for r in runs),
        "delivered": sum(r.delivered for r in runs),
        "everyRunSentWhatWasDue": all(r.due == due_per_run for r in runs),
        "wallMs": latency_summary([r.wall_ms for r in runs]),
        "mongoCpuMsPerRun": per_op_ms(sum(r.mongo_cpu_s for r in runs), n),
        "notifyCpuMsPerRun": per_op_ms(sum(r.notify_cpu_s for r in runs), n),
    }


def fill_figures(filled: store_fill.Filled, size: int) -> dict[str, Any]:
    return {
        "toSize": size,
        "payments": filled.payments,
        "documents": filled.documents,
        "seconds": round(filled.seconds, 2),
        "documentsPerS": round(filled.documents / filled.seconds) if filled.seconds else None,
    }


def component_pids(members: Mapping[cpu.Key, cpu.Member], component: str) -> list[int]:
    return sorted(pid for (pid, _start), m in members.items() if m.component == component)


# ---------------------------------------------------------------- the scheduled run


class ScheduledRuns:
    """NotifyFunction's scheduled invocation in one warm execution environment, as the
    harness's schedule makes it (one at a time)."""

    def __init__(self, infra: InfraSettings) -> None:
        self._rule, _rate_s = schedule_rate_s(NOTIFY)
        # WARNING: the environment's log lines would land in the bench's own stderr
        env = {**function_env(NOTIFY, infra), "LOG_LEVEL": "WARNING"}
        self._pool = LambdaPool(function_spec(NOTIFY), env, 1)
        self._loop = asyncio.new_event_loop()

    def start(self) -> list[int]:
        """Start the environment; its pid."""
        self._pool.warm_up()
        return [
            p.stat.pid
            for p in cpu.read_processes().values()
            if p.stat.ppid == os.getpid() and "--multiprocessing-fork" in p.argv
        ]

    def invoke(self) -> dict[str, int]:
        result: dict[str, int] = self._loop.run_until_complete(
            self._pool.invoke(scheduled_event(self._rule))
        )
        return result

    def close(self) -> None:
        self._pool.close()
        self._loop.close()


@contextmanager
def scheduled_runs(infra: InfraSettings) -> Iterator[tuple[ScheduledRuns, list[int]]]:
    runs = ScheduledRuns(infra)
    try:
        yield runs, runs.start()
    finally:
        runs.close()


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class StoreBench:
    """Everything one size's measurement uses."""

    cfg: StoreConfig
    api_url: str
    http: requests.Session
    api_headers: dict[str, str]
    roots: list[int]
    mongo_pids: list[int]
    notify_pids: list[int]
    runs: ScheduledRuns
    deliveries: MongoWebhookDeliveries
    db: Database[dict[str, Any]]
    payments: UnresentPayments


def _requests(b: StoreBench, method: str, paths: Sequence[str], ok: int) -> Requests:
    before = cpu.snapshot(b.roots)
    ms: list[float] = []
    errors = 0
    for path in paths:
        started = time.perf_counter()
        answer = b.http.request(method, f"{b.api_url}{path}", headers=b.api_headers, timeout=30)
        ms.append((time.perf_counter() - started) * 1000)
        errors += answer.status_code != ok
    after = cpu.snapshot(b.roots)
    return Requests(ms, errors, cpu.cpu_by_component(before, after, cpu.ticks_per_second()))


def _gets(b: StoreBench, ids: Sequence[str]) -> Requests:
    return _requests(b, "GET", [f"/api/payments/{tx}" for tx in ids], 200)


def _resends(b: StoreBench, ids: Sequence[str]) -> Requests:
    return _requests(b, "POST", [f"/api/payments/{tx}/webhook/resend" for tx in ids], 202)


def _scheduled_run(b: StoreBench, ids: Sequence[str]) -> Run:
    """Make these payments' webhooks due (a resend each), then one measured scheduled run."""
    now = datetime.now(UTC)
    for tx in ids:
        b.deliveries.reschedule(webhook_id(tx), now)
    mongo, notify = cpu.cpu_seconds(b.mongo_pids), cpu.cpu_seconds(b.notify_pids)
    started = time.perf_counter()
    answer = b.runs.invoke()
    wall_ms = (time.perf_counter() - started) * 1000
    return Run(
        wall_ms,
        int(answer["due"]),
        int(answer["delivered"]),
        cpu.cpu_seconds(b.mongo_pids) - mongo,
        cpu.cpu_seconds(b.notify_pids) - notify,
    )


def _drain(b: StoreBench) -> int:
    """Scheduled runs until nothing is due; how many deliveries they sent."""
    sent = 0
    for _ in range(DRAIN_RUNS):
        due = int(b.runs.invoke()["due"])
        if due == 0:
            return sent
        sent += due
    raise BenchError(f"deliveries still due after {DRAIN_RUNS} scheduled runs")


def _counts(db: Database[dict[str, Any]]) -> dict[str, int]:
    return {name: db[name].count_documents({}) for name in COLLECTIONS}


def at_size(b: StoreBench, size: int) -> dict[str, Any]:
    cfg = b.cfg
    _gets(b, b.payments.sample(cfg.warmup))
    get = request_figures(_gets(b, b.payments.sample(cfg.gets)))
    _scheduled_run(b, b.payments.take(cfg.due_per_run))
    runs = [_scheduled_run(b, b.payments.take(cfg.due_per_run)) for _ in range(cfg.schedule_runs)]
    _resends(b, b.payments.take(cfg.warmup))
    resend = request_figures(_resends(b, b.payments.take(cfg.resends)))
    drained = _drain(b)
    return {
        "payments": size,
        "get": get,
        "schedule": schedule_figures(runs, cfg.due_per_run),
        "resend": resend,
        "sentAfterResends": drained,
        "documents": _counts(b.db),
    }


def _prepare(db: Database[dict[str, Any]]) -> None:
    """Every collection of the ledger, empty, with its `_id` lookup index."""
    existing = set(db.list_collection_names())
    for name in COLLECTIONS:
        if name not in existing:
            db.create_collection(name)
    time.sleep(ID_INDEX_WAIT_S)


def _stop_stack_schedule(env: BenchEnv) -> None:
    """The bench is the schedule: a run of the stack's own could lease what it made due."""
    stopped = [
        c.process.stop() for c in stack.components(env.infra()) if c.process.name == "schedule"
    ]
    if not any(stopped):
        raise BenchError("the stack's schedule was not running: nothing to stop")


def _fill_log(filled: store_fill.Filled, size: int) -> str:
    return (
        f"  store of {size:,} payments: {filled.payments:,} written "
        f"({filled.documents:,} documents) in {filled.seconds:.1f} s"
    )


def _grow_and_measure(
    b: StoreBench, owner: store_fill.StoreOwner, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Fill to each size in turn (topping up), measuring at each: (fills, figures by size)."""
    fills: list[dict[str, Any]] = []
    at: dict[str, Any] = {}
    stored = 0
    for size in b.cfg.sizes:
        filled = store_fill.fill(b.db, owner, stored, size)
        b.payments.add([store_fill.transaction_id(n) for n in range(stored, size)])
        stored = size
        log(_fill_log(filled, size))
        fills.append(fill_figures(filled, size))
        at[str(size)] = at_size(b, size)
        log(_size_log(at[str(size)]))
    return fills, at


def _measure_sizes(
    env: BenchEnv, cfg: StoreConfig, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    infra = env.infra()
    merchant = create_merchant(env, "Bench store size")
    owner = store_fill.StoreOwner(
        merchant.merchant_id, f"{infra.receiver_url}/hooks/{merchant.merchant_id}"
    )
    roots = stack_pids(env)
    with (
        mongo_client(infra.mongo_uri, op_timeout_ms=120_000) as client,
        requests.Session() as http,
        scheduled_runs(infra) as (runs, notify_pids),
    ):
        db = client[function_env(NOTIFY, infra)["MONGO_DATABASE"]]
        _prepare(db)
        bench = StoreBench(
            cfg=cfg,
            api_url=infra.api_url,
            http=http,
            api_headers={"X-API-Key": merchant.api_key},
            roots=roots,
            mongo_pids=component_pids(cpu.snapshot(roots), "mongo"),
            notify_pids=notify_pids,
            runs=runs,
            deliveries=MongoWebhookDeliveries(db),
            db=db,
            payments=UnresentPayments(random.Random(SEED)),  # noqa: S311 - sampling, not secrets
        )
        return _grow_and_measure(bench, owner, log)


def _size_log(at: Mapping[str, Any]) -> str:
    g, s, r = at["get"], at["schedule"], at["resend"]
    return (
        f"  at {at['payments']:,}: GET {g['latencyMs']['median']} ms, "
        f"scheduled run {s['wallMs']['median']} ms, resend {r['latencyMs']['median']} ms "
        "(medians)"
    )


def measure(
    env: BenchEnv, cfg: StoreConfig, work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """Fresh infrastructure and `harness up` (without its schedule), both sizes, `harness
    down`."""
    work = work / "store"
    log(f"store size: GET, scheduled run and resend at {cfg.sizes[0]:,} and {cfg.sizes[1]:,}")
    infra_fresh(env)
    try:
        harness_run(env, REPO_ROOT, "up")
        _stop_stack_schedule(env)
        fills, at = _measure_sizes(env, cfg, log)
    finally:
        harness_run(env, REPO_ROOT, "down", check=False)
        keep_stack_logs(env, work / "logs")
    small, large = (at[str(size)] for size in cfg.sizes)
    return {"sizes": list(cfg.sizes), "fill": fills, "at": at, "ratios": ratios(small, large)}

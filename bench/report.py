"""results.json → docs/benchmarks/README.md and its plots (PNG, matplotlib's Agg backend).

Every figure is printed beside its ceiling from the same run; goals are checked against the
figures, with the gap when one is missed. docs/benchmarks/analysis.md (written by hand: what
the profile shows is in the way, what was fixed, before and after) is included as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.cpu import COMPONENTS
from harness.template import REPO_ROOT

ANALYSIS = REPO_ROOT / "docs" / "benchmarks" / "analysis.md"


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        text = f"{v:,.1f}" if abs(v) >= 10 else f"{v:,.3g}"
    else:
        text = f"{v:,}" if isinstance(v, int) else str(v)
    return f"{text}{unit}"


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


# ------------------------------------------------------------------ goals


def goals(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of issues 7 and 13: measured value, target, met, and how far off when missed."""
    intake, lat, e2e = r["intake"], r["latency"], r.get("endToEnd", {})
    at = {p["rate"]: p for p in lat["points"]}
    p1000 = at.get(1000.0) or at.get(1000)
    out = [
        _goal(
            "full POST / trivial endpoint, 1 process (direct)",
            intake["direct1"]["ratioToTrivial"],
            0.5,
            True,
        ),
        _goal(
            "full POST / trivial endpoint, 2 processes (direct)",
            intake["direct2"]["ratioToTrivial"],
            0.5,
            True,
        ),
        _goal(
            "intake p99 at 1,000 requests/s (ms)",
            None if p1000 is None or p1000["saturated"] else p1000["latencyMs"]["p99"],
            25.0,
            False,
            note="saturated" if p1000 is not None and p1000["saturated"] else None,
        ),
        _goal(
            "Mangum path requests/s per process",
            intake["apigw2"]["rpsPerProcess"],
            800.0,
            True,
        ),
        *intake_goals(intake, e2e),
    ]
    for key, scenario in e2e.items():
        if not key.startswith("bank"):
            continue
        ms = scenario["bankLatencyMs"]
        out.append(
            _goal(
                f"end to end sustained payments/s, zero loss (bank {ms} ms)",
                scenario["sustained"]["sustainedRate"],
                1000.0,
                True,
            )
        )
        at500 = scenario["latency"].get("500")
        p99 = at500["webhookP99S"] if at500 else None
        note = None
        if at500 and p99 is None and at500.get("webhookP99AtLeastS") is not None:
            note = f"not all delivered within {at500['webhookP99AtLeastS']} s"
        out.append(_goal(f"submit→webhook p99 at 500/s, s (bank {ms} ms)", p99, 1.0, False, note))
        settle = next((v for k, v in scenario["latency"].items() if " for " in k), None)
        if settle is not None:
            p99 = settle["webhookP99S"] if settle["allDelivered"] else None
            note = None if settle["allDelivered"] else "not every payment settled"
            label = f"{settle['rate']:g}/s for {settle['seconds']:g} s"
            out.append(
                _goal(f"submit→webhook p99 at {label}, s (bank {ms} ms)", p99, 3.0, False, note)
            )
    return out + _cpu_goals(r.get("cpuPerPayment")) + slow_bank_goals(r.get("slowBank"))


def intake_goals(intake: dict[str, Any], e2e: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 15's, beside issue 7's above: the API Gateway emulation against serving directly
    (both on the 2 cores), its CPU per accepted POST, and intake's p99 at 500/s while the
    pipeline processes what it accepts (the end-to-end runs, bank at 0 ms)."""
    emulated, direct = intake.get("apigw4"), intake.get("direct2")
    out = []
    if emulated and direct:
        ratio = round(emulated["rps"] / direct["rps"], 3) if direct["rps"] else None
        out.append(
            _goal("API Gateway emulation (4 environments) / direct, 2 processes", ratio, 0.5, True)
        )
        out.append(
            _goal(
                "CPU per accepted POST through the emulation, front and environments, ms",
                emulated.get("cpuMsPerRequest"),
                1.5,
                False,
            )
        )
    at500 = (e2e.get("bank0ms") or {}).get("latency", {}).get("500")
    if at500 is not None:
        out.append(
            _goal(
                "intake p99 at 500/s while the pipeline processes it, ms",
                at500["intakeP99Ms"],
                25.0,
                False,
            )
        )
    return out


def slow_bank_goals(slow: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 14's: healthy cards' latency with late-approval cards in the mix, and money."""
    mixed = (slow or {}).get("withSlowCards")
    if not mixed:
        return []
    every = slow["slowEvery"] if slow else 0
    where = f"at {slow['rate']:g}/s, every {every}th card approved too late" if slow else ""
    return [
        _goal(f"healthy cards' submit→webhook p50 {where}, s", mixed["healthyP50S"], 1.0, False),
        _goal(f"healthy cards' submit→webhook p99 {where}, s", mixed["healthyP99S"], 3.0, False),
        _goal("payments charged but not succeeded", mixed["chargedNotSucceeded"], 0, False),
        _goal("payments succeeded but not charged", mixed["succeededNotCharged"], 0, False),
    ]


def _slow_bank(slow: dict[str, Any]) -> list[str]:
    every = slow["slowEvery"]
    lines = [
        f"{slow['rate']:g} payments/s for {slow['seconds']:g} s through the whole stack "
        "(`harness up`, fresh infrastructure), once with every payment on 4242 4242 4242 4242 "
        f"and once with every {every}th on 4000 0000 0000 0259, which the bank approves 30 s "
        "after the call: after the gateway's 20 s retry budget, so the gateway fails it and "
        "reverses the authorization. A payment the bank has not decided within the batch's "
        "patience (500 ms; its call goes on, with its 2 s timeout) waits on the retry topic "
        "instead of holding up its batch. Latency is submit → "
        "verified webhook of the healthy cards; money from the bank's own records.",
        "",
    ]
    head = [
        "mix",
        "accepted",
        "lost",
        "healthy p50 s",
        "p95 s",
        "p99 s",
        "max s",
        "reversals",
        "charged, not succeeded",
        "succeeded, not charged",
        "charged twice",
    ]
    rows = []
    for key, label in (
        ("withoutSlowCards", "healthy only"),
        ("withSlowCards", f"1 in {every} late"),
    ):
        f = slow.get(key)
        if f:
            rows.append(
                [
                    label,
                    f["accepted"],
                    f["lost"],
                    f["healthyP50S"],
                    f["healthyP95S"],
                    f["healthyP99S"],
                    f["healthyMaxS"],
                    f["reversals"],
                    f["chargedNotSucceeded"],
                    f["succeededNotCharged"],
                    f["doubleCharged"],
                ]
            )
    lines += _table(head, rows)
    goals_ = slow_bank_goals(slow)
    lines += _table(
        ["goal", "measured", "target", "met", "gap"],
        [
            [g["goal"], g["value"], g["target"], "yes" if g["met"] else "**no**", g["gap"]]
            for g in goals_
        ],
    )
    return lines


def _cpu_goals(cpu: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 13's: whole-system CPU per settled payment and the MongoDB-wire server's share."""
    current = (cpu or {}).get("current")
    if not current or "totalMsPerPayment" not in current:
        return []
    mongo = current["components"].get("mongo", {}).get("msPerPayment")
    return [
        _goal(
            "whole-system CPU per settled payment at 40/s, ms",
            current["totalMsPerPayment"],
            8.0,
            False,
        ),
        _goal("MongoDB-wire server's share of it, ms", mongo, 1.0, False),
    ]


def _goal(
    name: str, value: float | None, target: float, higher_is_better: bool, note: str | None = None
) -> dict[str, Any]:
    gap: str | None
    if value is None:
        met, gap = False, note or "not measured"
    elif higher_is_better:
        met = value >= target
        gap = None if met else f"{value / target:.1%} of the goal ({target - value:,.3g} short)"
    else:
        met = value <= target
        gap = None if met else f"{value / target:.1f}x the limit"
    return {"goal": name, "value": value, "target": target, "met": met, "gap": gap}


# ------------------------------------------------------------------ plots


def _plots(r: dict[str, Any], out: Path) -> list[str]:
    import matplotlib  # noqa: PLC0415 - heavy; only when a report is written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    names = [_plot_throughput(plt, r, out)]

    points = [p for p in r["latency"]["points"] if not p["saturated"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in ("p50", "p90", "p99", "p99.9"):
        ax.plot([p["rate"] for p in points], [p["latencyMs"][key] for p in points], "o-", label=key)
    saturated = [p["rate"] for p in r["latency"]["points"] if p["saturated"]]
    for rate in saturated:
        ax.axvline(rate, color="red", alpha=0.3, linestyle=":")
    ax.axhline(r["latency"]["p99ThresholdMs"], color="red", linestyle="--", label="50 ms")
    ax.set_yscale("log")
    ax.set_xlabel("arrival rate (requests/s, open loop)")
    ax.set_ylabel("latency (ms)")
    title = "Intake latency vs arrival rate"
    ax.set_title(title + (" (dotted: saturated)" if saturated else ""))
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency-vs-rate.png", dpi=110)
    plt.close(fig)
    names.append("latency-vs-rate.png")

    for key, scenario in r.get("endToEnd", {}).items():
        timeline = scenario.get("sustained", {}).get("timeline") if key.startswith("bank") else None
        if not timeline:
            continue
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
        if timeline["latency"]:
            ax1.scatter(*zip(*timeline["latency"], strict=True), s=2)
        ax1.set_ylabel("submit→webhook (s)")
        rate = scenario["sustained"]["sustainRun"]["rate"]
        ax1.set_title(f"End to end at {rate:g} payments/s, bank {scenario['bankLatencyMs']} ms")
        lag = timeline["lag"]
        for group in ("paygate-process", "paygate-notify"):
            ax2.plot([s["t"] for s in lag], [s[group] for s in lag], label=group)
        ax2.set_ylabel("consumer lag (records)")
        ax2.set_xlabel("seconds since the first submit")
        ax2.legend()
        fig.tight_layout()
        name = f"e2e-timeline-{key}.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        names.append(name)
    return names


def _plot_throughput(plt: Any, r: dict[str, Any], out: Path) -> str:
    c, i = r["ceilings"], r["intake"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    labels = [
        "trivial 1 proc",
        "trivial 2 procs",
        "POST direct 1",
        "POST direct 2",
        "POST Mangum 2",
        "POST Mangum 4",
    ]
    values = [
        c["trivialEndpoint1"]["rps"],
        c["trivialEndpoint2"]["rps"],
        i["direct1"]["rps"],
        i["direct2"]["rps"],
        i["apigw2"]["rps"],
        i.get("apigw4", {}).get("rps", 0),
    ]
    ax.bar(labels, values, color=["#999", "#999", "#1f77b4", "#1f77b4", "#ff7f0e", "#ff7f0e"])
    ax.set_ylabel("requests/s")
    ax.set_title("Intake throughput (wrk, keep-alive) vs the trivial endpoint")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(out / "intake-throughput.png", dpi=110)
    plt.close(fig)
    return "intake-throughput.png"


# ------------------------------------------------------------------ text


def _ceilings(c: dict[str, Any]) -> list[str]:
    k, rd, m, w = c["kafkaProducer"], c["redis"], c["mongo"], c["webhookReceiver"]
    return _table(
        ["ceiling", "value", "how"],
        [
            [
                "trivial JSON endpoint, 1 process",
                f"{_fmt(c['trivialEndpoint1']['rps'])} req/s",
                "FastAPI + uvicorn, wrk 64 connections",
            ],
            [
                "trivial JSON endpoint, 2 processes",
                f"{_fmt(c['trivialEndpoint2']['rps'])} req/s",
                "uvicorn --workers 2",
            ],
            *(
                [
                    [
                        "POST validated as intake's model, 1 process",
                        f"{_fmt(c['modelEndpoint1']['rps'])} req/s",
                        "the same, the payment body parsed into PaymentRequestIn",
                    ]
                ]
                if "modelEndpoint1" in c
                else []
            ),
            [
                "Kafka producer, one acked publish at a time",
                f"{_fmt(k['acksOneAtATimePerS'])} msg/s",
                k["settings"],
            ],
            [
                "Kafka producer, 40 publishes in flight",
                f"{_fmt(k['acks40InFlightPerS'])} msg/s",
                "KafkaEventPublisher from 40 threads (as intake's thread pool)",
            ],
            [
                "Redis round trips from Python",
                f"{_fmt(rd['roundTripsPerS'])} /s",
                "GET, one at a time",
            ],
            ["Redis pipelined commands", f"{_fmt(rd['pipelinedCommandsPerS'])} /s", "one pipeline"],
            [
                "MongoDB wire, single inserts",
                f"{_fmt(m['singleInsertsPerS'])} docs/s",
                "insert_one, FerretDB + SQLite",
            ],
            [
                "MongoDB wire, bulk inserts",
                f"{_fmt(m['bulkInsertedDocsPerS'])} docs/s",
                f"insert_many of {m['bulkBatch']}, unordered",
            ],
            [
                "MongoDB wire, findAndModify by `_id`",
                f"{_fmt(m.get('updatesByIdPerS'))} /s",
                f"one at a time, collection of {_fmt(m.get('collectionDocs'))} docs",
            ],
            [
                "MongoDB wire, findAndModify by `_id` + status",
                f"{_fmt(m.get('updatesByIdAndStatusPerS'))} /s",
                "the same, with a status guard: FerretDB 1.24 decodes the whole collection",
            ],
            [
                "webhook receiver capacity",
                f"{_fmt(w['rps'])} webhooks/s",
                f"signed, verified; wrk; errors {w['errors']}",
            ],
        ],
    )


def _intake(i: dict[str, Any], ceilings: dict[str, Any]) -> list[str]:
    model = ceilings.get("modelEndpoint1", {}).get("rps")
    rows = []
    for name, label in (
        ("direct1", "direct, 1 process"),
        ("direct2", "direct, 2 processes"),
        ("apigw2", "API Gateway emulation (Mangum), 2 execution environments"),
        ("apigw4", "API Gateway emulation (Mangum), 4 execution environments (default)"),
    ):
        x = i.get(name)
        if x is None:  # a run from before that scenario
            continue
        rows.append(
            [
                label,
                x["rps"],
                x["rpsPerProcess"],
                x["errors"],
                x["p99Ms"],
                x.get("cpuMsPerRequest", "—"),
                x["trivialRps"],
                f"{x['ratioToTrivial']:.0%}",
                f"{x['rps'] / model:.0%}" if model and name == "direct1" else "—",
            ]
        )
    return _table(
        [
            "full POST /api/payments",
            "req/s",
            "req/s per process",
            "errors",
            "p99 ms (closed loop)",
            "CPU ms per accepted POST",
            "trivial req/s (same processes)",
            "ratio",
            "ratio to the model endpoint",
        ],
        rows,
    )


def _latency(lat: dict[str, Any]) -> list[str]:
    rows = []
    for p in lat["points"]:
        ms = p["latencyMs"]
        rows.append(
            [
                p["rate"],
                round(p["achievedRps"], 1),
                p["errors"],
                "yes" if p["saturated"] else "no",
                ms["p50"],
                ms["p90"],
                ms["p99"],
                ms["p99.9"],
            ]
        )
    lines = _table(
        [
            "arrival rate/s",
            "achieved/s",
            "errors",
            "saturated",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
        ],
        rows,
    )
    crossing = lat["p99CrossesThresholdAtRps"]
    lines.append(
        f"p99 crosses {lat['p99ThresholdMs']:g} ms at **{_fmt(crossing)} requests/s** "
        f"({lat['server']}). A saturated run stopped sending once a request waited more than "
        "3 s for a connection; its percentiles cover what was sent."
        if crossing is not None
        else f"p99 stays under {lat['p99ThresholdMs']:g} ms at every measured rate."
    )
    return [*lines, ""]


def _e2e(e2e: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, s in e2e.items():
        if not key.startswith("bank"):
            continue
        sus = s["sustained"]
        lines.append(f"### Bank latency {s['bankLatencyMs']} ms")
        lines.append("")
        run = sus["sustainRun"]
        lines.append(
            f"Highest rate sustained with nothing lost and lag not growing: "
            f"**{_fmt(sus['sustainedRate'])} payments/s**"
            + (
                f" (held for {run['seconds']:g} s: {run['accepted']} accepted, "
                f"{run['webhooksVerified']} verified webhooks, lost {run['lost']}, "
                f"double charges {run['doubleCharged']}, max lag {run['maxLag']})."
                if run
                else "."
            )
        )
        lines.append("")
        probe_rows = [
            [
                p["rate"],
                p["seconds"],
                p["accepted"],
                p["lost"],
                p["maxLag"],
                "yes" if p["lagGrowing"] else "no",
                "yes" if p["held"] else "no",
            ]
            for p in sus["probes"]
        ]
        lines += _table(
            ["probe rate/s", "s", "accepted", "lost", "max lag", "lag growing", "held"], probe_rows
        )
        lat_rows = []
        for rate, x in s["latency"].items():
            p99 = x["webhookP99S"]
            if p99 is None and x.get("webhookP99AtLeastS") is not None:
                p99 = f"> {x['webhookP99AtLeastS']} (incomplete)"
            lat_rows.append(
                [
                    rate,
                    x["seconds"],
                    x["accepted"],
                    x["webhooksVerified"],
                    x["webhookP50S"],
                    p99,
                    x["intakeErrors"],
                ]
            )
        lines += _table(
            [
                "payments/s",
                "sent for s",
                "accepted",
                "verified webhooks",
                "submit→webhook p50 s",
                "p99 s",
                "intake errors",
            ],
            lat_rows,
        )
    return lines


def _capacity(e2e: dict[str, Any]) -> list[str]:
    cap = e2e["capacity"]
    rows = [
        [label, x["backlog"], x["windowS"], x["processedPerS"], x["processLagLeft"]]
        for label, x in (
            (f"before (project code at {cap['baselineCommit']})", cap["before"]),
            ("after (working tree)", cap["after"]),
        )
    ]
    return [
        "ProcessFunction (2 pollers, bank 0 ms) draining a backlog for a fixed window, once "
        "with the code before the fixes and once after (bench/capacity.py). Speed-up: "
        + (
            "not a ratio: the code after the fixes drained the whole backlog (below)."
            if cap["after"]["processLagLeft"] == 0
            else f"**{_fmt(cap['speedup'])}x**."
            if cap["speedup"] is not None
            else "the code before the fixes processed **nothing** in the window."
        ),
        "",
        *_table(["code", "backlog", "window s", "payments/s processed", "backlog left"], rows),
        *(
            [
                "The code after the fixes drained the whole backlog: its figure is a lower bound "
                "(a run before bench/capacity.py stopped the window at an empty backlog also "
                "counted the idle rest of the window).",
                "",
            ]
            if cap["after"]["processLagLeft"] == 0
            else []
        ),
    ]


def _profile(p: dict[str, Any]) -> list[str]:
    if "error" in p:
        return [f"**Not measured**: the profiler failed ({p['error']}).", ""]
    lines = [
        f"py-spy (wall clock, idle included) for {p['seconds']} s while payments arrived at "
        f"{p['load']['rate']:g}/s; hottest stage by CPU: **{p['hottestByCpu']}**.",
        "",
    ]
    for name, st in p["stages"].items():
        lines.append(
            f"**{name}** ({st['processes']} processes, {st['cpuCores']} cores busy, "
            f"{st['samples']} samples): top frames by own time"
        )
        lines.append("")
        lines += _table(
            ["frame", "share"], [[f["frame"], f"{f['share']:.1%}"] for f in st["ownTime"][:8]]
        )
        if st["inclusiveOurCode"]:
            lines.append("our code, inclusive:")
            lines.append("")
            lines += _table(
                ["frame", "share"],
                [[f["frame"], f"{f['share']:.1%}"] for f in st["inclusiveOurCode"][:8]],
            )
    return lines


def _cpu(c: dict[str, Any]) -> list[str]:
    runs = (
        [(f"before (tree at {c['baseline']['commit']})", c["baseline"])] if "baseline" in c else []
    )
    runs.append(("working tree", c["current"]))
    measured = [(label, run) for label, run in runs if "error" not in run]
    lines = [
        f"{c['rate']:g} payments/s for {c['seconds']:g} s (bank {c['bankLatencyMs']} ms) through "
        "the stack `python -m harness up` runs, on fresh data after a warm-up "
        "(bench/cpu_per_payment.py). CPU = utime + stime from /proc of every process of the "
        "gateway (threads included; the load generator and the benchmark not counted), from "
        "the first submit until every accepted payment settled (terminal, its webhook "
        "verified at the receiver); processes found from the project's pid files and grouped "
        "by command line (bench/cpu.py).",
        "",
    ]
    for label, run in runs:
        if "error" in run:
            lines += [f"**{label}: not measured**: {run['error']}", ""]
    if not measured:
        return lines
    head = [
        "component",
        "processes",
        *[f"ms CPU per payment, {label}" for label, _ in measured],
    ]
    rows = [
        [
            label,
            measured[-1][1]["components"][key]["processes"],
            *[run["components"][key]["msPerPayment"] for _, run in measured],
        ]
        for key, label in COMPONENTS.items()
    ]
    rows.append(["**total**", "", *[run["totalMsPerPayment"] for _, run in measured]])
    lines += _table(head, rows)
    facts: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("payments settled / accepted", lambda x: f"{x['settled']} / {x['accepted']}"),
        ("wall time, first submit → last settled (s)", lambda x: x["wallS"]),
        ("cores busy over the window", lambda x: x["coresBusy"]),
        (
            "ceiling: implied max payments/s",
            lambda x: (
                f"{_fmt(x['impliedMaxPaymentsPerS'])} "
                f"({_fmt(x['ceilingMsPerS'])} ms CPU/s ÷ {_fmt(x['totalMsPerPayment'])} ms)"
            ),
        ),
        ("not counted (status page, unrecognised), CPU s", lambda x: x["notCountedCpuS"]),
    ]
    lines += _table(
        ["", *[label for label, _ in measured]],
        [[name, *[get(run) for _, run in measured]] for name, get in facts],
    )
    return lines


_STORE_ROWS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "get",
        "GET /api/payments/{id}",
        (
            ("latency median, ms", "latencyMs.median"),
            ("latency p95, ms", "latencyMs.p95"),
            ("FerretDB CPU per GET, ms", "mongoCpuMsPerOp"),
            ("API CPU per GET, ms (front + environments)", "apiCpuMsPerOp"),
        ),
    ),
    (
        "schedule",
        "scheduled run of NotifyFunction",
        (
            ("wall time median, ms", "wallMs.median"),
            ("wall time p95, ms", "wallMs.p95"),
            ("FerretDB CPU per run, ms", "mongoCpuMsPerRun"),
            ("notify environment CPU per run, ms", "notifyCpuMsPerRun"),
        ),
    ),
    (
        "resend",
        "POST /api/payments/{id}/webhook/resend",
        (
            ("latency median, ms", "latencyMs.median"),
            ("latency p95, ms", "latencyMs.p95"),
            ("FerretDB CPU per resend, ms", "mongoCpuMsPerOp"),
            ("API CPU per resend, ms (front + environments)", "apiCpuMsPerOp"),
        ),
    ),
)
"""Operation, its label, and (figure label, figure key) rows: bench/store_size.py's names."""


def store_heading(s: dict[str, Any]) -> str:
    small, large = s["sizes"]
    return (
        "## Reads do not grow with the store: GET, schedule and resend at "
        f"{small:,} and {large:,} payments"
    )


def _store_figure(op: dict[str, Any], name: str) -> Any:
    key, _, sub = name.partition(".")
    return op[key][sub] if sub else op[key]


def _store(s: dict[str, Any]) -> list[str]:
    small_n, large_n = s["sizes"]
    small, large = s["at"][str(small_n)], s["at"][str(large_n)]
    sched = small["schedule"]
    lines = [
        "One stack (`python -m harness up` on fresh data, without its own schedule), one "
        "merchant's decided, delivered payments written straight into FerretDB as the "
        "ledger's adapters write them (claim, outcome with its event, delivery, one attempt: "
        f"bench/store_fill.py), measured at {small_n:,} and again after topping up to "
        f"{large_n:,} (bench/store_size.py). GET and resend: {small['get']['count']} and "
        f"{small['resend']['count']} real requests at each size through the API Gateway "
        f"emulation, one at a time; scheduled run: {sched['runs']} invocations of "
        "NotifyFunction's scheduled event in a warm environment, each with "
        f"{sched['duePerRun']} deliveries due. CPU = utime + stime from /proc over the "
        f"measured requests or runs. Ratio = {large_n:,} / {small_n:,}.",
        "",
    ]
    head = ["operation", "figure", f"{small_n:,} payments", f"{large_n:,} payments", "ratio"]
    lines += _table(head, _store_rows(s, small, large))
    return lines + _store_facts(s, small, large)


def _store_rows(s: dict[str, Any], small: dict[str, Any], large: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for op, label, figures in _STORE_ROWS:
        for i, (name, key) in enumerate(figures):
            rows.append(
                [
                    label if i == 0 else "",
                    name,
                    _store_figure(small[op], key),
                    _store_figure(large[op], key),
                    s["ratios"][op][key],
                ]
            )
    return rows


def _store_facts(s: dict[str, Any], small: dict[str, Any], large: dict[str, Any]) -> list[str]:
    both = (small, large)
    return _table(
        ["", *[f"{n:,} payments" for n in s["sizes"]]],
        [
            ["payments written to reach the size", *[f["payments"] for f in s["fill"]]],
            ["documents written (insert_many)", *[f["documents"] for f in s["fill"]]],
            ["written in, s", *[f["seconds"] for f in s["fill"]]],
            [
                "GET / resend errors",
                *[f"{x['get']['errors']} / {x['resend']['errors']}" for x in both],
            ],
            [
                "every scheduled run sent what was due",
                *["yes" if x["schedule"]["everyRunSentWhatWasDue"] else "**no**" for x in both],
            ],
            *[
                [f"`{name}` afterwards", *[x["documents"].get(name) for x in both]]
                for name in ("payment_claims", "webhook_attempts", "webhook_due")
            ],
        ],
    )


def _header(r: dict[str, Any]) -> list[str]:
    m = r["machine"]
    how = f"`python -m bench --only {r['only']}`" if r.get("only") else "`make bench`"
    return [
        "# Benchmarks",
        "",
        f"Generated by {how} on {r['startedAt']} (commit {m['commit']}, {m['cpus']} CPUs, "
        f"load average {m['loadAverageAtStart']} at start, run took {r['seconds']:.0f} s)"
        + (" — **smoke run: durations too short to mean anything**" if r["smoke"] else "")
        + ". Every process (load tools, servers, Kafka, Redis, FerretDB) shares the machine; "
        "each figure stands beside a ceiling measured in the same run. Raw figures: "
        "`results.json`.",
        "",
    ]


def _throughput_sections(r: dict[str, Any], plots: Sequence[str]) -> list[str]:
    lines = ["## Goals", ""]
    lines += _table(
        ["goal", "measured", "target", "met", "gap"],
        [
            [g["goal"], g["value"], g["target"], "yes" if g["met"] else "**no**", g["gap"]]
            for g in goals(r)
        ],
    )
    if ANALYSIS.exists() and not r["smoke"]:
        lines += [ANALYSIS.read_text().strip(), ""]
    lines += ["## Ceilings (measured first)", "", *_ceilings(r["ceilings"])]
    lines += ["## Intake throughput", "", *_intake(r["intake"], r["ceilings"])]
    lines += ["![intake throughput](intake-throughput.png)", ""]
    lines += ["## Intake latency (open loop)", "", *_latency(r["latency"])]
    lines += ["![latency vs rate](latency-vs-rate.png)", ""]
    e2e = r.get("endToEnd")
    if e2e is None:
        lines += ["## End to end", "", "**Not measured in this run** (it was cut short).", ""]
    else:
        lines += ["## End to end", "", *_e2e(e2e)]
        lines += [*[f"![{p}]({p})" for p in plots if p.startswith("e2e-")], ""]
        if "capacity" in e2e:
            lines += ["## Before and after the fixes (same run)", "", *_capacity(e2e)]
        lines += ["## Where the time goes", "", *_profile(e2e["profile"])]
    return lines


def render(r: dict[str, Any], plots: Sequence[str]) -> str:
    lines = _header(r)
    if "ceilings" in r:  # not in a `--only` run
        lines += _throughput_sections(r, plots)
    if "cpuPerPayment" in r:
        lines += [
            "## Whole-system CPU per settled payment, by component",
            "",
            *_cpu(r["cpuPerPayment"]),
        ]
    if "storeSize" in r:
        lines += [store_heading(r["storeSize"]), "", *_store(r["storeSize"])]
    if "slowBank" in r:
        lines += [
            "## A slow bank holds up no one: healthy cards with late approvals in the mix",
            "",
            *_slow_bank(r["slowBank"]),
        ]
    lines += [
        "## Reproduce",
        "",
        "`make bench` (about 20 min on an idle machine) installs wrk (apt-get) and matplotlib "
        "(the `bench` extra), "
        "builds bench/loadgen (Go), starts its own Kafka, Redis and FerretDB on other ports with "
        "fresh data (`.data-bench/`), runs every scenario, writes this folder, and stops what it "
        "started. `make bench-smoke` runs the same with durations of a second or two. "
        "`python -m bench --only intake --out DIR` runs the ceilings, intake's throughput (with "
        "its CPU per accepted POST) and its open-loop latency alone (about 3 min). "
        "`python -m bench --only cpu --out DIR [--cpu-baseline COMMIT]` runs the CPU per "
        "payment alone (a couple of minutes per tree); `python -m bench --only store --out "
        "DIR` the reads with a small and a large store alone; `python -m bench --only "
        "slowbank --out DIR` the slow-bank mix alone (about 3 min).",
        "",
    ]
    return "\n".join(lines)


def write(r: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(r, out) if "latency" in r else []
    (out / "README.md").write_text(render(r, plots))

"""Where the time goes: py-spy samples each stage's processes (wall clock, idle included, so
waiting on Kafka, Redis or MongoDB shows) while load runs, with each stage's CPU use over the
same window; the top frames by own time and, for the project's code, by inclusive time."""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.cpu import cpu_seconds
from bench.tools import py_spy

_OURS = ("common/", "functions/", "harness/")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m['func']} ({path})"


def top_frames(raw: str, limit: int = 12) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += count
        for f in set(frames):
            if any(f"({p}" in f for p in _OURS):
                inclusive[f] += count
    return {
        "samples": total,
        "ownTime": [{"frame": f, "share": round(n / total, 3)} for f, n in own.most_common(limit)]
        if total
        else [],
        "inclusiveOurCode": [
            {"frame": f, "share": round(n / total, 3)} for f, n in inclusive.most_common(limit)
        ]
        if total
        else [],
    }


def profile_stages(
    stages: Mapping[str, Callable[[], Sequence[int]]],
    seconds: float,
    out_dir: Path,
) -> dict[str, Any]:
    """Profile each stage (name → its current pids) for `seconds`; CPU share of each."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pids = {name: list(get()) for name, get in stages.items()}
    cpu_before = {name: cpu_seconds(p) for name, p in pids.items()}
    started = time.monotonic()
    spies = []
    for name, stage_pids in pids.items():
        for pid in stage_pids:
            target = out_dir / f"{name}-{pid}.txt"
            argv = [
                py_spy(),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                "50",
                "--idle",
                "--nonblocking",
                "--format",
                "raw",
                "-o",
                str(target),
            ]
            spies.append(
                (
                    name,
                    target,
                    subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT),
                )
            )
    for _name, _target, proc in spies:
        proc.wait(timeout=seconds + 60)
    elapsed = time.monotonic() - started
    out: dict[str, Any] = {}
    for name, stage_pids in pids.items():
        raw = "\n".join(t.read_text() for n, t, _p in spies if n == name and t.exists())
        cores = (cpu_seconds(stage_pids) - cpu_before[name]) / elapsed
        out[name] = {"cpuCores": round(cores, 2), "processes": len(stage_pids), **top_frames(raw)}
    hottest = max(out, key=lambda n: out[n]["cpuCores"]) if out else None
    return {"seconds": round(elapsed, 1), "hottestByCpu": hottest, "stages": out}

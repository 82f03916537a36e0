"""Whole-system CPU by component, read from /proc: which of the gateway's processes make up
which component, and how much CPU each used over a window.

The processes are the trees under the pids the project records for what it starts (the pid
files of harness/processes.py: `python -m harness up` and `harness infra up`); a process is
put in a component by its own command line or, for a multiprocessing child (an execution
environment, a poller), by its nearest ancestor's. CPU is utime + stime of
/proc/<pid>/stat, which for a process counts all its threads, live and exited.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

COMPONENTS: dict[str, str] = {
    "mongo": "MongoDB-wire server (FerretDB)",
    "processWorkers": "process workers (ProcessFunction pollers)",
    "notifyWorkers": "notify workers (NotifyFunction pollers)",
    "kafka": "Kafka (the java broker)",
    "apiEnvironments": "API environments (IntakeFunction's Lambda-like environments)",
    "apiFront": "API front (the API Gateway emulation)",
    "schedule": "the schedule (scheduler → NotifyFunction)",
    "bank": "bank simulator",
    "receiver": "receiver (demo webhook receiver)",
    "redis": "Redis",
}
"""Key → label, in the report's order."""

NOT_COUNTED = "notCounted"
"""Processes of the trees that are no part of the payment path (the status page) or that no
rule recognises; their CPU is reported beside the components, not in the total."""

_HARNESS_COMMANDS: dict[tuple[str, ...], str] = {
    ("api",): "apiFront",
    ("consume", "ProcessFunction"): "processWorkers",
    ("consume", "NotifyFunction"): "notifyWorkers",
    ("schedule",): "schedule",
    ("bank",): "bank",
    ("receiver",): "receiver",
}
_SPAWNED = "--multiprocessing-fork"
"""The last argument of a child started by multiprocessing's spawn (a LambdaPool worker, a
poller); its resource tracker has no such argument and stays with its parent's component."""

Key = tuple[int, int]
"""(pid, start time in clock ticks): a pid that was reused is another process."""


@dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    pgrp: int
    cpu_ticks: int
    """utime + stime, every thread of the process included."""
    start_ticks: int


@dataclass(frozen=True)
class Process:
    stat: ProcStat
    argv: tuple[str, ...]

    @property
    def key(self) -> Key:
        return (self.stat.pid, self.stat.start_ticks)


@dataclass(frozen=True)
class Member:
    """A process of the trees at one instant: its component, command line and CPU so far."""

    component: str
    argv: tuple[str, ...]
    cpu_ticks: int


@dataclass(frozen=True)
class ComponentCpu:
    seconds: float
    processes: int
    """How many processes were alive over the whole window."""


def parse_stat(text: str) -> ProcStat:
    """`pid (comm) state ppid pgrp ...`: comm may hold spaces and parentheses, so it runs
    from the first '(' to the last ')'; the fields after it are numbered from 3 (proc(5))."""
    opened, closed = text.index("("), text.rindex(")")
    fields = text[closed + 1 :].split()
    return ProcStat(
        pid=int(text[:opened]),
        comm=text[opened + 1 : closed],
        state=fields[0],
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        start_ticks=int(fields[19]),
    )


def parse_cmdline(raw: bytes) -> tuple[str, ...]:
    """/proc/<pid>/cmdline: arguments separated by NUL; a process that rewrote its title
    (redis-server) may leave one argument with spaces and NUL padding."""
    return tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)


def harness_command(argv: Sequence[str]) -> tuple[str, ...]:
    """What follows `-m harness` (the project's command line), () for anything else."""
    for i in range(len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] == "harness":
            return tuple(argv[i + 2 :])
    return ()


def own_component(argv: Sequence[str]) -> str | None:
    """The component a command line names by itself, or None (a child, or not ours)."""
    if not argv:
        return None
    program = Path(argv[0].split()[0]).name
    if program == "java" and "kafka.Kafka" in argv:
        return "kafka"
    if program.startswith("redis-server"):
        return "redis"
    if program.startswith("ferretdb"):
        return "mongo"
    command = harness_command(argv)
    for prefix, component in _HARNESS_COMMANDS.items():
        if command[: len(prefix)] == prefix:
            return component
    return None


def classify(lineage: Sequence[Sequence[str]]) -> str:
    """The component of a process from its command line then its ancestors' (nearest
    first): its own when it names one, else the nearest ancestor's, where a process spawned
    by the API front is an execution environment. NOT_COUNTED when nothing matches."""
    own = own_component(lineage[0]) if lineage else None
    if own is not None:
        return own
    for ancestor in lineage[1:]:
        found = own_component(ancestor)
        if found is None:
            continue
        if found == "apiFront" and _SPAWNED in lineage[0]:
            return "apiEnvironments"
        return found
    return NOT_COUNTED


def lineages(
    processes: Mapping[int, Process], roots: Iterable[int]
) -> dict[int, tuple[tuple[str, ...], ...]]:
    """Every process in the trees under `roots` → its command line, then its ancestors' up
    to its root."""
    children: dict[int, list[int]] = defaultdict(list)
    for p in processes.values():
        children[p.stat.ppid].append(p.stat.pid)
    out: dict[int, tuple[tuple[str, ...], ...]] = {}
    pending: list[tuple[int, tuple[tuple[str, ...], ...]]] = [
        (r, ()) for r in roots if r in processes
    ]
    while pending:
        pid, above = pending.pop()
        if pid in out:
            continue
        lineage = (processes[pid].argv, *above)
        out[pid] = lineage
        pending += [(child, lineage) for child in children[pid]]
    return out


def members(processes: Mapping[int, Process], roots: Iterable[int]) -> dict[Key, Member]:
    return {
        processes[pid].key: Member(
            classify(lineage), processes[pid].argv, processes[pid].stat.cpu_ticks
        )
        for pid, lineage in lineages(processes, roots).items()
    }


def cpu_by_component(
    before: Mapping[Key, Member], after: Mapping[Key, Member], ticks_per_s: int
) -> dict[str, ComponentCpu]:
    """CPU used between two snapshots by the processes alive at both, per component (every
    one of COMPONENTS, 0 processes when none was found; NOT_COUNTED when any)."""
    ticks: dict[str, int] = dict.fromkeys(COMPONENTS, 0)
    count: dict[str, int] = dict.fromkeys(COMPONENTS, 0)
    for key, later in after.items():
        earlier = before.get(key)
        if earlier is None:
            continue
        ticks[later.component] = ticks.get(later.component, 0) + later.cpu_ticks - earlier.cpu_ticks
        count[later.component] = count.get(later.component, 0) + 1
    return {name: ComponentCpu(ticks[name] / ticks_per_s, count[name]) for name in ticks}


def not_counted(before: Mapping[Key, Member], after: Mapping[Key, Member]) -> list[str]:
    """Command lines of the processes left out of every component, for the report."""
    return sorted(
        " ".join(m.argv)[:160]
        for key, m in after.items()
        if m.component == NOT_COUNTED and key in before
    )


# ---------------------------------------------------------------- reading /proc


def read_stat(pid: int) -> ProcStat | None:
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def read_processes(proc: Path = Path("/proc")) -> dict[int, Process]:
    """Every process now (kernel threads included, with an empty command line)."""
    out: dict[int, Process] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            stat = parse_stat((entry / "stat").read_text())
            out[stat.pid] = Process(stat, parse_cmdline((entry / "cmdline").read_bytes()))
    return out


def snapshot(roots: Iterable[int]) -> dict[Key, Member]:
    """The trees under `roots` now, each process with its component and CPU so far."""
    return members(read_processes(), roots)


def ticks_per_second() -> int:
    return os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time used so far by these processes."""
    stats = [read_stat(pid) for pid in pids]
    return sum(s.cpu_ticks for s in stats if s is not None) / ticks_per_second()

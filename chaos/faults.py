"""Fault injectors over the chaos stack's processes: kill -9, SIGSTOP/SIGCONT, a service
stopped and started again. Each signals only pids this stack started (by pid file)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from chaos.stack import ChaosStack


class FaultError(RuntimeError):
    """A fault could not be injected (the process to hit is not running)."""


def children(pid: int) -> list[int]:
    """Direct children of `pid` (the pollers of an event-source supervisor)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                out.append(int(stat.parent.name))
    return sorted(out)


def pollers(stack: ChaosStack, component: str) -> list[int]:
    """The poller processes of `process` or `notify` (children of its supervisor)."""
    supervisor = stack.component(component).pid()
    if supervisor is None:
        raise FaultError(f"{component} is not running")
    return children(supervisor)


def kill_poller(stack: ChaosStack, component: str, index: int = 0) -> int:
    """kill -9 one poller; its supervisor starts a new one. Returns the pid killed."""
    found = pollers(stack, component)
    if not found:
        raise FaultError(f"{component} has no poller to kill")
    pid = found[index % len(found)]
    os.kill(pid, signal.SIGKILL)
    return pid


def wait_pollers(stack: ChaosStack, component: str, count: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while len(pollers(stack, component)) < count:
        if time.monotonic() > deadline:
            raise FaultError(f"{component}: {count} pollers not back within {timeout_s:.0f}s")
        time.sleep(0.2)


def service_pid(stack: ChaosStack, name: str) -> int:
    pid = stack.service(name).process.pid()
    if pid is None:
        raise FaultError(f"{name} is not running")
    return pid


def pause(stack: ChaosStack, name: str) -> int:
    """SIGSTOP a service: it keeps its sockets but answers nothing (a hung server)."""
    pid = service_pid(stack, name)
    os.kill(pid, signal.SIGSTOP)
    return pid


def resume(pid: int) -> None:
    os.kill(pid, signal.SIGCONT)


def stop_service(stack: ChaosStack, name: str, hard: bool = False) -> None:
    """Stop kafka | redis | mongodb: SIGTERM (an orderly shutdown) or kill -9."""
    svc = stack.service(name)
    if hard:
        pid = service_pid(stack, name)
        os.kill(pid, signal.SIGKILL)
        while svc.process.pid() is not None:
            time.sleep(0.05)
    else:
        svc.process.stop()
    if svc.answers():
        raise FaultError(f"{name} still answers after being stopped")


def start_services(stack: ChaosStack) -> None:
    """Start what is stopped again, the way an operator would (`harness infra up`)."""
    stack.infra_up()

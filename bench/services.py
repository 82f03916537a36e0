"""Processes the benchmark starts (servers, pollers), each in its own process group, stopped by
pid when the scenario ends; and the infrastructure, through `harness infra` with our env."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from bench.cpu import read_processes
from bench.stack_env import BenchEnv
from harness.template import REPO_ROOT

WORK = "bench-work"
"""The benchmark's own files in its data folder (logs, records, profiles), which infra_fresh
keeps: a phase that starts on fresh infrastructure does not delete an earlier phase's."""


class BenchError(RuntimeError):
    pass


def work_dir(env: BenchEnv) -> Path:
    return env.data_dir / WORK


def infra_fresh(env: BenchEnv, root: Path | None = None) -> None:
    """Stop the benchmark's own infrastructure, delete its data, start it again (with the
    harness of the project tree at `root`, default this one)."""
    infra_down(env, root)
    taken = [p for p in env.ports() if _listening(p)]
    if taken:
        raise BenchError(
            f"ports {taken} of the benchmark's own set are taken by something it did not "
            "start; stop that or change bench/stack_env.py"
        )
    if env.data_dir.name.startswith(".data-bench") and env.data_dir.exists():
        for entry in env.data_dir.iterdir():
            if entry.name == WORK:
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    run = subprocess.run(
        env.harness("infra", "up"),
        check=False,
        env=env.process_env(root),
        cwd=root,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise BenchError(f"bench infra did not start:\n{run.stdout}\n{run.stderr}")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def infra_down(env: BenchEnv, root: Path | None = None) -> None:
    subprocess.run(
        env.harness("infra", "down"),
        check=False,
        env=env.process_env(root),
        cwd=root,
        capture_output=True,
    )


def harness_run(env: BenchEnv, root: Path, *args: str, check: bool = True) -> None:
    """`python -m harness ARGS` as the tree at `root` runs it (`up`, `down`: the stack)."""
    run = subprocess.run(
        env.harness(*args),
        cwd=root,
        env=env.process_env(root),
        capture_output=True,  # `harness up` prints a merchant's API key: kept out of logs
        text=True,
        timeout=600,
        check=False,
    )
    if check and run.returncode != 0:
        raise BenchError(
            f"harness {' '.join(args)} failed from {root} (exit {run.returncode}):\n"
            f"{run.stderr[-3000:]}"
        )


def keep_stack_logs(env: BenchEnv, target: Path) -> None:
    """The stack's logs, before the next fresh start deletes them."""
    target.mkdir(parents=True, exist_ok=True)
    for log_file in env.infra().run_dir.glob("*.log"):
        shutil.copy2(log_file, target / log_file.name)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback URL
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Service:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: BenchEnv,
        log_dir: Path,
        cwd: Path | None = None,
    ) -> None:
        """`cwd`: where `python -m` finds the project's packages (default: this one)."""
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_file = log_dir / f"{name}.log"
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                list(argv),
                env=env.process_env(),
                cwd=cwd or REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, url: str | None, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while url is not None and not answers(url):
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited; see {self.log_file}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} did not answer {url}; see {self.log_file}")
            time.sleep(0.2)

    def child_pids(self) -> list[int]:
        """Every process of this service's group (uvicorn workers, pollers)."""
        return [p.stat.pid for p in read_processes().values() if p.stat.pgrp == self.proc.pid]

    def terminate(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


@contextmanager
def running(
    env: BenchEnv, log_dir: Path, specs: Sequence[tuple[str, Sequence[str], str | None]]
) -> Iterator[dict[str, Service]]:
    """Start (name, argv, ready URL) in order, yield them by name, stop them all."""
    started: dict[str, Service] = {}
    try:
        for name, argv, url in specs:
            service = Service(name, argv, env, log_dir)
            started[name] = service
            service.wait_ready(url)
        yield started
    finally:
        for service in reversed(list(started.values())):
            service.stop()

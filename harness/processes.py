"""Background processes the harness starts, tracked by pid file, stopped only by that pid.

Every long-running local process of the project (Kafka, Redis, FerretDB today; the API
emulation, the event source workers, the bank simulator and the webhook receiver later) is a
`ManagedProcess`: it is started detached in its own session with its output in a log file,
its pid and the kernel's start time of that pid go to `<run_dir>/<name>.pid`, and `stop()`
signals that pid only while it still has that start time (pids are reused; process titles
change: redis-server rewrites its own command line).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class ProcessStartError(RuntimeError):
    """A managed process exited or never became ready; the message carries its log tail."""


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    argv: Sequence[str]
    run_dir: Path
    cwd: Path | None = None
    env: Mapping[str, str] | None = None

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of our running process, or None (stale pid files are removed)."""
        try:
            pid_text, started_text = self.pid_file.read_text().split()
            pid, started = int(pid_text), int(started_text)
        except (FileNotFoundError, ValueError):
            return None
        if _is_alive(pid) and _start_time(pid) == started:
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self) -> int:
        """Start the process unless it already runs; return its pid."""
        running = self.pid()
        if running is not None:
            return running
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
        return proc.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM our process and its group (the children it spawned), SIGKILL them after
        `timeout`; True if something was stopped."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(pid, signal.SIGKILL)  # the leader and any child that outlived it
        while _is_alive(pid):
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def exited(self) -> bool:
        """True when a pid file exists but its process is gone (it died after start)."""
        return self.pid_file.exists() and self.pid() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_file})"
        return "\n".join(text.splitlines()[-lines:])


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Our processes start their own session, so their group id is their pid."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards); [] if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return stat.rsplit(")", 1)[1].split()


def _is_alive(pid: int) -> bool:
    """Alive and not a zombie. Reaps our own exited children so they do not linger."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (stat field 22), or None if gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if len(fields) > 19 else None

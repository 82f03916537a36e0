"""ManagedProcess against real child processes (no sockets): start once, stop by pid only."""

import os
import sys
import time
from pathlib import Path

import pytest

from harness.processes import ManagedProcess


def sleeper(tmp_path: Path, name: str = "sleeper", trap_term: bool = False) -> ManagedProcess:
    code = "import signal,time\n"
    if trap_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += f"print('started {name}', flush=True)\ntime.sleep(60)\n"
    return ManagedProcess(
        name=name,
        argv=[sys.executable, "-c", code],
        run_dir=tmp_path,
    )


def test_start_twice_starts_once_and_stop_ends_it(tmp_path: Path) -> None:
    proc = sleeper(tmp_path)
    pid = proc.start()
    try:
        assert proc.start() == pid
        assert proc.pid() == pid
    finally:
        assert proc.stop(timeout=5)
    assert proc.pid() is None
    assert not proc.pid_file.exists()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert proc.stop() is False


def test_output_goes_to_the_log_file(tmp_path: Path) -> None:
    proc = sleeper(tmp_path)
    proc.start()
    try:
        deadline = time.monotonic() + 5
        while "started sleeper" not in proc.log_tail() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "started sleeper" in proc.log_tail()
    finally:
        proc.stop(timeout=5)


def test_a_reused_pid_is_not_ours_and_is_never_signalled(tmp_path: Path) -> None:
    proc = sleeper(tmp_path)
    proc.pid_file.parent.mkdir(parents=True, exist_ok=True)
    # a live pid that is not the process we started (pytest itself), with a stale start time
    proc.pid_file.write_text(f"{os.getpid()} 1\n")
    assert proc.pid() is None
    assert proc.stop() is False
    assert not proc.pid_file.exists()


def test_garbage_pid_file_counts_as_not_running(tmp_path: Path) -> None:
    proc = sleeper(tmp_path)
    proc.pid_file.write_text("not a pid")
    assert proc.pid() is None


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    proc = sleeper(tmp_path, trap_term=True)
    pid = proc.start()
    deadline = time.monotonic() + 5
    while "started" not in proc.log_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    assert proc.stop(timeout=0.5)
    assert time.monotonic() - started < 5
    assert proc.pid() is None
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_exited_reports_a_process_that_died_after_start(tmp_path: Path) -> None:
    proc = ManagedProcess("quick", [sys.executable, "-c", "pass"], tmp_path)
    pid = proc.start()
    os.waitpid(pid, 0)  # our child: reap it so it is gone, not a zombie
    assert proc.exited()
    assert not proc.pid_file.exists()


@pytest.mark.parametrize("lines", [1, 3])
def test_log_tail_returns_the_last_lines(tmp_path: Path, lines: int) -> None:
    proc = sleeper(tmp_path)
    proc.log_file.write_text("\n".join(f"line {i}" for i in range(10)))
    assert proc.log_tail(lines).splitlines() == [f"line {i}" for i in range(10 - lines, 10)]


def test_a_pid_file_from_before_the_start_time_was_recorded_is_not_trusted(tmp_path: Path) -> None:
    proc = sleeper(tmp_path)
    proc.pid_file.write_text(f"{os.getpid()}\n")
    assert proc.pid() is None
    assert proc.stop() is False

"""harness.container's supervisor against real child processes (no sockets): the container
lives exactly as long as every component, and leaves none behind."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

from harness import container


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def gone_soon(pid: int) -> bool:
    """Killed processes die once scheduled; on a loaded machine that takes a moment."""
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def parent_of_a_worker(pid_file: Path) -> list[str]:
    """A component that forks a worker (as the API and the pollers do), then waits."""
    code = (
        "import os, subprocess, sys, time\n"
        "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r} + '.tmp', 'w').write(str(w.pid))\n"
        f"os.rename({str(pid_file)!r} + '.tmp', {str(pid_file)!r})\n"  # whole, or not at all
        "time.sleep(60)\n"
    )
    return [sys.executable, "-c", code]


def wait_for(path: Path) -> int:
    deadline = time.monotonic() + 30
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return int(path.read_text())


def test_a_component_that_exits_stops_the_others_with_their_workers(tmp_path: Path) -> None:
    worker_file = tmp_path / "worker.pid"

    def exit_later() -> list[str]:
        wait = f"while not os.path.exists({str(worker_file)!r}): time.sleep(0.05)\n"
        return [sys.executable, "-c", "import os, sys, time\n" + wait + "sys.exit(3)"]

    started = time.monotonic()
    code = container.supervise({"api": parent_of_a_worker(worker_file), "bank": exit_later()})
    assert code == 3
    assert time.monotonic() - started < container.STOP_TIMEOUT_S + 20
    assert gone_soon(wait_for(worker_file))


def test_a_component_that_exits_cleanly_or_by_signal_still_fails_the_container() -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    assert container.supervise({"a": sleeper, "b": [sys.executable, "-c", "pass"]}) == 1
    killed = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    assert container.supervise({"a": sleeper, "b": killed}) == 1


def test_sigterm_stops_every_component_and_exits_zero(tmp_path: Path) -> None:
    worker_file = tmp_path / "worker.pid"
    previous = signal.getsignal(signal.SIGTERM)

    def terminate_once_started() -> None:
        wait_for(worker_file)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_once_started, daemon=True).start()
    assert container.supervise({"api": parent_of_a_worker(worker_file)}) == 0
    assert gone_soon(int(worker_file.read_text()))
    assert signal.getsignal(signal.SIGTERM) is previous

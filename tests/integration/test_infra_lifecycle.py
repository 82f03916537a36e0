"""`python -m harness infra up|status|down` on a second set of ports and a fresh data folder.

Real processes, real ports: starting twice starts nothing twice, a dead service is restarted
alone, a service that cannot start fails with its log tail, and down leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.infra.settings import InfraSettings
from tests.harness_cli import run_harness

PORTS = {
    "PAYGATE_KAFKA_PORT": "19092",
    "PAYGATE_KAFKA_CONTROLLER_PORT": "19093",
    "PAYGATE_REDIS_PORT": "16379",
    "PAYGATE_MONGO_PORT": "27018",
}


@pytest.fixture
def second_infra(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        **PORTS,
        "PAYGATE_DATA_DIR": str(tmp_path / "data"),
        "PAYGATE_MODE": "native",
    }
    yield env
    harness(env, "down")


def harness(env: dict[str, str], action: str) -> subprocess.CompletedProcess[str]:
    return run_harness("infra", action, env=env, timeout=600)


def pids(data_dir: Path) -> dict[str, int]:
    run = data_dir / "run"
    return (
        {p.stem: int(p.read_text().split()[0]) for p in run.glob("*.pid")} if run.exists() else {}
    )


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_up_is_idempotent_recovers_and_down_leaves_nothing(second_infra: dict[str, str]) -> None:
    data_dir = Path(second_infra["PAYGATE_DATA_DIR"])
    settings = InfraSettings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]

    # 1. A foreign listener holds the Redis port: up fails, naming Redis, with its log tail.
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", int(PORTS["PAYGATE_REDIS_PORT"])))
    squatter.listen()
    try:
        failed = harness(second_infra, "up")
    finally:
        squatter.close()
    assert failed.returncode == 1
    assert "redis exited during start" in failed.stderr
    assert "Address already in use" in failed.stderr

    # 2. Port free again: up starts Redis and keeps the two that were already starting.
    before = pids(data_dir)
    first = harness(second_infra, "up")
    assert first.returncode == 0, first.stderr
    after = pids(data_dir)
    assert set(after) == {"kafka", "redis", "ferretdb"}
    assert after["kafka"] == before["kafka"] and after["ferretdb"] == before["ferretdb"]
    assert "created payments.requested" in first.stdout

    # 3. A second up starts nothing and answers quickly.
    started = time.monotonic()
    again = harness(second_infra, "up")
    elapsed = time.monotonic() - started
    assert again.returncode == 0, again.stderr
    assert "everything was already up" in again.stdout
    assert pids(data_dir) == after
    assert elapsed < 5, f"second infra up took {elapsed:.1f}s"
    assert harness(second_infra, "status").returncode == 0

    # 4. Redis killed behind our back: up restarts it alone; status saw it stopped first.
    os.kill(after["redis"], signal.SIGKILL)
    while alive(after["redis"]):
        time.sleep(0.05)
    assert harness(second_infra, "status").returncode == 1
    healed = harness(second_infra, "up")
    assert healed.returncode == 0, healed.stderr
    new = pids(data_dir)
    assert new["redis"] != after["redis"]
    assert new["kafka"] == after["kafka"] and new["ferretdb"] == after["ferretdb"]

    # 5. Down stops exactly our processes and leaves none behind.
    down = harness(second_infra, "down")
    assert down.returncode == 0, down.stderr
    assert "kafka" in down.stdout and "redis" in down.stdout and "mongodb" in down.stdout
    assert pids(data_dir) == {}
    for pid in new.values():
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pid)
    assert settings.run_dir == data_dir / "run"
    assert harness(second_infra, "down").stdout.startswith("stopped: nothing of ours")

"""PAYGATE_MODE=external (the `app` container's mode): start nothing, use what answers, and
fail fast, naming what is missing, when something does not answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from harness.infra import manager
from harness.infra.settings import InfraSettings
from harness.template import REPO_ROOT, project_template


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_external_up_uses_the_running_services_and_ensures_the_topics(
    infra: InfraSettings, kafka_admin: AdminClient
) -> None:
    s = infra.model_copy(update={"mode": "external"})
    report = manager.up(s)
    assert report.mode == "external"
    assert [(st.name, st.state, st.pid) for st in report.services] == [
        ("kafka", "external", None),
        ("redis", "external", None),
        ("mongodb", "external", None),
    ]
    assert report.services[0].address == infra.kafka_bootstrap
    existing = kafka_admin.list_topics(timeout=10).topics
    assert {t.name for t in project_template().kafka_topics()} <= set(existing)


def test_external_up_names_what_does_not_answer(infra: InfraSettings) -> None:
    s = infra.model_copy(
        update={"mode": "external", "redis_port": free_port(), "ready_timeout_s": 1.0}
    )
    started = time.monotonic()
    with pytest.raises(manager.InfraError) as raised:
        manager.up(s)
    assert time.monotonic() - started < 15
    message = str(raised.value)
    assert f"redis at 127.0.0.1:{s.redis_port}" in message
    assert "kafka" not in message and "mongodb" not in message


def test_the_container_exits_non_zero_when_its_infrastructure_is_missing(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "PAYGATE_MODE": "external",
        "PAYGATE_DATA_DIR": str(tmp_path),
        "PAYGATE_KAFKA_PORT": str(free_port()),
        "PAYGATE_REDIS_PORT": str(free_port()),
        "PAYGATE_MONGO_PORT": str(free_port()),
        "PAYGATE_API_PORT": str(free_port()),
        "PAYGATE_BANK_PORT": str(free_port()),
        "PAYGATE_RECEIVER_PORT": str(free_port()),
        "PAYGATE_READY_TIMEOUT_S": "1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "harness.container"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "did not answer: kafka at 127.0.0.1:" in run.stdout
    assert "started" not in run.stdout  # no component runs without its infrastructure
    check = subprocess.run(
        [sys.executable, "-m", "harness.container", "--check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 1
    assert f"api: http://127.0.0.1:{env['PAYGATE_API_PORT']}/health does not answer" in check.stdout

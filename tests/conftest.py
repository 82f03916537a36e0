"""Shared fixtures. Integration tests (tests/integration/, and the real-adapter half of
tests/contract/) talk to the real Kafka, Redis and MongoDB-wire server (make infra-up).

A missing service fails the run: it never skips. The check runs once per session and fails
with the command that starts the services.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pymongo
import pytest
import redis
import requests
from confluent_kafka.admin import AdminClient, NewTopic

from common.adapters.mongo_connection import mongo_client
from harness import stack
from harness.infra import probes
from harness.infra.settings import InfraSettings
from harness.template import REPO_ROOT

START_HINT = "start them with `make infra-up` (python -m harness infra up)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


STOPPED_NOTICE = (
    "make test stopped the development system's {names}: its pollers share the tests' "
    "Kafka consumer groups and would take their payments. `make up` starts it again."
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tests that use the services never share them with a running development system
    (`make up`, `make demo`): its harness services are stopped first, and the run says so.
    The infrastructure (Kafka, Redis, FerretDB) stays up; a run of fakes only stops nothing."""
    uses_services = any(
        item.get_closest_marker("integration") is not None or "tests/e2e/" in str(item.path)
        for item in session.items
    )
    if not uses_services:
        return
    stopped = stack.down(InfraSettings())
    if stopped:
        notice = STOPPED_NOTICE.format(names=", ".join(stopped))
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(notice, yellow=True)
        else:
            sys.stderr.write(notice + "\n")


@pytest.fixture(scope="session")
def infra() -> InfraSettings:
    s = InfraSettings()
    missing = [
        name
        for name, ok in (
            ("Kafka " + s.kafka_bootstrap, probes.kafka_answers(s.kafka_bootstrap, timeout=10)),
            ("Redis " + s.redis_url, probes.redis_answers(s.redis_url, timeout=5)),
            ("MongoDB wire " + s.mongo_uri, probes.mongo_answers(s.mongo_uri, timeout=5)),
        )
        if not ok
    ]
    if missing:
        pytest.fail(f"not answering: {', '.join(missing)}; {START_HINT}", pytrace=False)
    return s


@pytest.fixture
def kafka_admin(infra: InfraSettings) -> AdminClient:
    return AdminClient({"bootstrap.servers": infra.kafka_bootstrap})


@pytest.fixture
def new_topics(kafka_admin: AdminClient) -> Iterator[Callable[[Mapping[str, int]], None]]:
    """Creates topics for one test (name → partitions); every one is deleted afterwards."""
    made: list[str] = []

    def create(partitions: Mapping[str, int]) -> None:
        new = [NewTopic(name, count, 1) for name, count in partitions.items()]
        for future in kafka_admin.create_topics(new).values():
            future.result(timeout=30)
        made.extend(partitions)

    yield create
    if made:
        for future in kafka_admin.delete_topics(made).values():
            future.result(timeout=30)


@pytest.fixture
def scratch_topic(new_topics: Callable[[Mapping[str, int]], None]) -> str:
    """A fresh 3-partition topic for one test, deleted afterwards."""
    name = f"test.{uuid.uuid4().hex[:12]}"
    new_topics({name: 3})
    return name


@pytest.fixture
def redis_client(infra: InfraSettings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(infra.redis_url)
    yield client
    client.close()


@pytest.fixture
def mongo_db(infra: InfraSettings) -> Iterator[pymongo.database.Database[dict[str, object]]]:
    """A fresh database on the real server, with the client settings the functions use."""
    client = mongo_client(infra.mongo_uri)
    name = f"test_{uuid.uuid4().hex[:10]}"
    yield client[name]
    client.drop_database(name)
    client.close()


@contextmanager
def harness_server(args: list[str], ready_path: str, port: int, log_dir: Path) -> Iterator[str]:
    """`python -m harness <args> --port <port>` as its own process, until the test session
    ends; fails (never skips) with the server's log if it does not answer `ready_path`."""
    log_path = log_dir / "server.log"
    with log_path.open("wb") as log:  # a file, not a pipe: an unread pipe blocks the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", *args, "--port", str(port)],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}{ready_path}", timeout=2)
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"{args[0]} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()  # uvicorn waits for open requests (the 0259 card hangs for 60 s)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def bank_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bank simulator on a test port."""
    with harness_server(["bank"], "/control", 18081, tmp_path_factory.mktemp("bank")) as url:
        yield url


@pytest.fixture
def bank(bank_url: str) -> Iterator[str]:
    """A bank with default knobs for one test, reset afterwards."""
    requests.post(f"{bank_url}/control/reset", timeout=5)
    yield bank_url
    requests.post(f"{bank_url}/control/reset", timeout=5)


@pytest.fixture(scope="session")
def receiver_url(infra: InfraSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo webhook receiver on a test port (merchants' secrets from the real Redis)."""
    log_dir = tmp_path_factory.mktemp("receiver")
    with harness_server(["receiver"], "/received", 18082, log_dir) as url:
        yield url

"""The API Gateway emulation on a test port, started once for the e2e tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from harness.template import REPO_ROOT

PORT = 13000
BASE = f"http://127.0.0.1:{PORT}"


@pytest.fixture(scope="session")
def api(infra: InfraSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Output to a file: a pipe nobody reads fills up and blocks the server's log writes.
    log_path = tmp_path_factory.mktemp("api") / "api.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "api", "--port", str(PORT), "--concurrency", "2"],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{BASE}/health", timeout=2)
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                out = log_path.read_text(errors="replace")
                proc.kill()
                pytest.fail(f"API emulation did not start:\n{out[-3000:]}")
            time.sleep(0.2)
    yield BASE
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def api_key(infra: InfraSettings) -> str:
    return merchant_directory(infra).create("E2E Shop").api_key

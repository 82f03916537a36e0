"""`make demo && make test` on one machine: the demo leaves the system running, and the tests
that a running system's pollers used to starve (issue 17: test_api_gateway, test_notify_restarts,
test_intake) still pass, because the test run stops its harness services first and says so."""

from __future__ import annotations

import subprocess
import sys

from harness import stack
from harness.infra.settings import InfraSettings
from harness.template import REPO_ROOT

STARVED = (
    "tests/e2e/test_api_gateway.py",
    "tests/e2e/test_notify_restarts.py",
    "tests/integration/test_intake.py",
)


def test_a_running_system_is_stopped_before_the_tests_that_would_share_it(
    infra: InfraSettings,
) -> None:
    stack.up(infra)  # what `make demo` leaves behind
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *STARVED],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "make test stopped the development system's api, bank, receiver, process" in out
    assert all(c.process.pid() is None for c in stack.components(infra))

"""`make demo`'s scenario, shortened: the whole system up, a payment mix through the API
Gateway emulation, every accepted payment terminal with its verified webhook, no leaks."""

from __future__ import annotations

import re
import subprocess
import sys

from harness import stack
from harness.infra.settings import InfraSettings
from harness.template import REPO_ROOT


def test_make_demo_target_runs_the_demo() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    target = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert target is not None and "-m harness demo" in target.group(1)


def test_demo_reports_zero_lost_and_every_webhook_verified(infra: InfraSettings) -> None:
    was_running = stack.components(infra)[0].process.pid() is not None
    try:
        run = subprocess.run(
            [sys.executable, "-m", "harness", "demo", "--rate", "10", "--seconds", "10"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        out = run.stdout
        assert run.returncode == 0, out + run.stderr
        assert "RESULT     OK" in out and "lost       0" in out
        accepted = int(re.search(r"(\d+) payments accepted", out).group(1))  # type: ignore[union-attr]
        assert accepted >= 80  # 100 requests: every 12th invalid, 8 of them, one per kind
        assert f"{accepted}/{accepted} delivered and verified" in out
        assert f"{accepted}/{accepted} terminal" in out
        assert "every outcome is the one its test card promises" in out
        assert "none found" in out and "0 payments charged twice" in out
        assert "0 charged but not succeeded, 0 succeeded but not charged" in out
        late = int(re.search(r"(\d+)\s+failed bank_unavailable", out).group(1))  # type: ignore[union-attr]
        assert f"reversals  {late} timed-out authorizations reversed" in out
        assert "0 duplicate events" in out
        for refusal in ("  401 Unauthorized", "  415 Unsupported", "  422 Validation"):
            assert refusal in out
    finally:
        if not was_running:
            stack.down(infra)  # leave the infrastructure to the other tests

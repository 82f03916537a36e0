"""`python -m harness ...` as a reader runs it: from the repository root, output captured, its
exit status left to the test."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

from harness.template import REPO_ROOT


def run_harness(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )

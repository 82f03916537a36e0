"""The Docker path: `docker compose` of docker-compose.yml when a Docker engine answers."""

from __future__ import annotations

import shutil
import subprocess

from harness.template import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"


def engine_available() -> bool:
    """True when `docker info` succeeds (a client alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "--project-name", "paygate", *args],
        capture_output=True,
        text=True,
        check=False,
    )

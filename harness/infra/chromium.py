"""Headless Chromium for the dashboard's browser tests: Debian's `chromium` package, installed
with apt-get when missing and root (as Redis is: native.debian_tool), driven from the command
line only (`--dump-dom`, `--screenshot`); no WebDriver, nothing from a CDN.
"""

from __future__ import annotations

import subprocess
import tempfile
from functools import cache
from pathlib import Path

from harness.infra.native import InstallError, debian_tool

_HEADLESS = ["--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run"]
WINDOW = "1280,1000"


@cache
def chromium() -> str:
    """The chromium executable (InstallError with the command to install it otherwise)."""
    return debian_tool("chromium", "chromium")


def _run(args: list[str], timeout_s: float) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        result = subprocess.run(
            [chromium(), *_HEADLESS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    if result.returncode != 0:
        raise InstallError(f"chromium exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def dump_dom(url: str, timeout_s: float = 30.0) -> str:
    """The page's DOM as the browser built it, serialized."""
    return _run(["--dump-dom", url], timeout_s)


def screenshot(url: str, path: Path, timeout_s: float = 30.0) -> Path:
    """A PNG of the page at WINDOW (1280 by 1000)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--screenshot={path}", f"--window-size={WINDOW}", url], timeout_s)
    if not path.exists():
        raise InstallError(f"chromium wrote no screenshot of {url}")
    return path

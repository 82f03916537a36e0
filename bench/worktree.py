"""The whole project tree at another commit, for figures before and after a change in the
same run: a detached `git worktree` in a temporary folder, removed afterwards. It is run with
this venv's python from that folder (PYTHONPATH and cwd there, bench/stack_env.py), so its
common/, functions/, harness/ and template.yaml are the ones imported; bench/ stays this
one's."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.services import BenchError
from harness.template import REPO_ROOT

PACKAGES = ("common", "functions", "harness")


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, check=False, capture_output=True, text=True
    )


@contextmanager
def checked_out(commit: str) -> Iterator[Path]:
    """A tree at `commit` (short or long hash), yielded as its folder."""
    target = Path(tempfile.mkdtemp(prefix=f"paygate-{commit[:12]}-")) / "tree"
    added = _git("worktree", "add", "--detach", str(target), commit)
    if added.returncode != 0:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise BenchError(f"git worktree add {commit} failed: {added.stderr.strip()}")
    try:
        yield target
    finally:
        _git("worktree", "remove", "--force", str(target))
        shutil.rmtree(target.parent, ignore_errors=True)
        _git("worktree", "prune")


def short_commit(root: Path) -> str:
    run = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=root,
        check=False,
        capture_output=True,
        text=True,
    )
    return run.stdout.strip()


def imported_from(root: Path, env: dict[str, str]) -> dict[str, str]:
    """Where a python started as the benchmark starts the stack (cwd and env) imports each
    project package from; raises unless every one comes from `root`."""
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    print(importlib.import_module(name).__file__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, *PACKAGES],
        cwd=root,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    files = dict(zip(PACKAGES, run.stdout.split(), strict=False))
    wrong = {n: f for n, f in files.items() if not Path(f).resolve().is_relative_to(root.resolve())}
    if run.returncode != 0 or wrong or len(files) != len(PACKAGES):
        raise BenchError(
            f"the tree at {root} does not import its own packages: {wrong or run.stderr}"
        )
    return files

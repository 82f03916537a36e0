"""`make sam-validate` and `make sam-build` as the README lists them: the template passes
cfn-lint and `sam validate --lint`, and `sam build` (no Docker) makes one artifact per function
that imports its handler on its own, without the web framework in the Kafka functions.

The first run on a machine installs the SAM tools' venv and each function's dependencies
(a few minutes: downloads); later runs, fresh clones included, reuse both from
~/.cache/paygate (Makefile's SAM_VENV, functions/Makefile's DEPS_CACHE): about 30 s of CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.template import REPO_ROOT

HANDLERS = {
    "IntakeFunction": "functions.intake.handler",
    "ProcessFunction": "functions.process.handler",
    "NotifyFunction": "functions.notify.handler",
}
WEB_ONLY = ("fastapi", "mangum", "uvicorn", "starlette")
BUILD = REPO_ROOT / ".aws-sam" / "build"
pytestmark = pytest.mark.timeout(1800)  # a first run downloads the SAM tools and the wheels


def make(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def built() -> Path:
    result = make("sam-build")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Build Succeeded" in result.stdout
    return BUILD


def test_template_passes_cfn_lint_and_sam_validate_lint() -> None:
    result = make("sam-validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


PROBE = """
import importlib, json, sys
artifact = sys.argv[1]
sys.path.insert(0, artifact)
loaded = {}
for name in sys.argv[2:]:
    module = importlib.import_module(name)
    loaded[name] = module.__file__
print(json.dumps({
    "files": loaded,
    "handler": callable(getattr(importlib.import_module(sys.argv[2]), "lambda_handler", None)),
    "modules": sorted({m.split(".")[0] for m in sys.modules}),
}))
"""


@pytest.mark.parametrize(("function", "handler"), HANDLERS.items())
def test_artifact_imports_its_handler_alone(
    built: Path, function: str, handler: str, tmp_path: Path
) -> None:
    artifact = built / function
    deps = handler.rsplit(".", 1)[0] + ".deps"
    # -I -S: no site-packages, no PYTHONPATH, no current folder: only the artifact; -B: no .pyc
    probe = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", PROBE, str(artifact), handler, deps],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    assert report["handler"]
    assert all(Path(f).is_relative_to(artifact) for f in report["files"].values())
    on_disk = {p.name for p in artifact.iterdir()}
    if function == "IntakeFunction":
        assert {"fastapi", "mangum"} <= on_disk
    else:
        assert not set(report["modules"]) & set(WEB_ONLY)
        assert not on_disk & set(WEB_ONLY), sorted(on_disk & set(WEB_ONLY))
    # only this function's package, next to common/
    assert {p.name for p in (artifact / "functions").iterdir()} == {
        "__init__.py",
        handler.split(".")[1],
    }
    assert not (artifact / "harness").exists() and not (artifact / "tests").exists()

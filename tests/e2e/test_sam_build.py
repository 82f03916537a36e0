"""`make sam-validate` and `make sam-build` as the README lists them: the template passes
cfn-lint and `sam validate --lint`, and `sam build` (no Docker) makes one artifact per function
whose every distribution is pure Python or built for the Lambda runtime the template names
(its CPython, its architecture, a glibc no newer than its Amazon Linux's), and that imports its
handler on its own, without the web framework in the Kafka functions. This machine has no
Python of the runtime's version, so the import is tried on the same artifact built for this
interpreter (functions/Makefile with LAMBDA_PYTHON set to it), checked to hold the very same
files and distributions.

The first run on a machine installs the SAM tools' venv and each function's dependencies
(a few minutes: downloads); later runs, fresh clones included, reuse both from
~/.cache/paygate (Makefile's SAM_VENV, functions/Makefile's DEPS_CACHE): about 30 s of CPU.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.template import REPO_ROOT, project_template

HANDLERS = {
    "IntakeFunction": "functions.intake.handler",
    "ProcessFunction": "functions.process.handler",
    "NotifyFunction": "functions.notify.handler",
    "RedriveFunction": "functions.redrive.handler",
}
WEB_ONLY = ("fastapi", "mangum", "uvicorn", "starlette")
BUILD = REPO_ROOT / ".aws-sam" / "build"
pytestmark = pytest.mark.timeout(1800)  # a first run downloads the SAM tools and the wheels


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
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


LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="module")
def local_twins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each artifact again, built by the same recipe for this machine's interpreter."""
    out = tmp_path_factory.mktemp("artifacts")
    for function in HANDLERS:
        (out / function).mkdir()
        result = make(
            "-f",
            "functions/Makefile",
            f"build-{function}",
            f"ARTIFACTS_DIR={out / function}",
            f"LAMBDA_PYTHON={LOCAL_PYTHON}",
        )
        assert result.returncode == 0, result.stdout + result.stderr
    return out


# Lambda runtimes on Amazon Linux 2023 and the glibc it ships (python3.11 runs on Amazon
# Linux 2, glibc 2.26, where confluent-kafka's manylinux_2_28 wheels do not load).
RUNTIME_GLIBC = {"python3.12": (2, 34), "python3.13": (2, 34), "python3.14": (2, 34)}
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def runtime() -> tuple[str, str, tuple[int, int]]:
    """(cpython tag, wheel architecture, newest glibc) of template.yaml's Globals."""
    glob = project_template().doc["Globals"]["Function"]
    name = str(glob["Runtime"])
    arch = {"x86_64": "x86_64", "arm64": "aarch64"}[glob["Architectures"][0]]
    return "cp" + name.removeprefix("python").replace(".", ""), arch, RUNTIME_GLIBC[name]


def loads_on(tag: str, cpython: str, arch: str, glibc: tuple[int, int]) -> bool:
    """Can a wheel tagged `python-abi-platform` load on that runtime?"""
    python, abi, platform = tag.split("-")
    if platform == "any":
        return python.startswith("py") or python == cpython
    if abi == "abi3":
        version_ok = python.startswith("cp3") and int(python[3:]) <= int(cpython[3:])
    else:
        version_ok = python == cpython and abi in (cpython, "none")
    for legacy, version in LEGACY_MANYLINUX.items():
        if platform == f"{legacy}_{arch}":
            return version_ok and version <= glibc
    pep600 = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
    return (
        version_ok
        and pep600 is not None
        and pep600[3] == arch
        and (int(pep600[1]), int(pep600[2])) <= glibc
    )


def wheel_tags(dist_info: Path) -> list[str]:
    lines = (dist_info / "WHEEL").read_text().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]


@pytest.mark.parametrize("function", HANDLERS)
def test_every_distribution_is_pure_or_built_for_the_lambda_runtime(
    built: Path, function: str
) -> None:
    cpython, arch, glibc = runtime()
    artifact = built / function
    dists = sorted(artifact.glob("*.dist-info"))
    assert dists, "no distribution in the artifact"
    tags = {d.name: wheel_tags(d) for d in dists}
    refused = {
        name: of
        for name, of in tags.items()
        if not any(loads_on(t, cpython, arch, glibc) for t in of)
    }
    assert not refused, f"not loadable on {cpython} {arch} glibc {glibc}: {refused}"
    # and no compiled module built for another CPython (a wheel's tags could understate it)
    foreign = [
        str(so.relative_to(artifact))
        for so in artifact.rglob("*.cpython-*.so")
        if f"cpython-{cpython[2:]}-" not in so.name or arch not in so.name
    ]
    assert not foreign, foreign


def test_the_tag_check_refuses_what_the_runtime_cannot_load() -> None:
    runtime_312 = ("cp312", "x86_64", (2, 34))
    assert loads_on("py3-none-any", *runtime_312)
    assert loads_on("cp312-cp312-manylinux_2_28_x86_64", *runtime_312)
    assert loads_on("cp39-abi3-manylinux_2_34_x86_64", *runtime_312)
    assert loads_on("cp312-cp312-manylinux2014_x86_64", *runtime_312)
    assert not loads_on("cp311-cp311-manylinux_2_28_x86_64", *runtime_312)
    assert not loads_on("cp312-cp312-manylinux_2_35_x86_64", *runtime_312)
    assert not loads_on("cp312-cp312-manylinux_2_28_aarch64", *runtime_312)
    assert not loads_on("cp312-cp312-musllinux_1_2_x86_64", *runtime_312)
    assert not loads_on("cp313-abi3-manylinux_2_28_x86_64", *runtime_312)


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


def names(artifact: Path) -> set[str]:
    """What the artifact holds at its top, a compiled module's CPython tag left out."""
    return {re.sub(r"\.cpython-3\d+-", ".cpython-3x-", p.name) for p in artifact.iterdir()}


@pytest.mark.parametrize(("function", "handler"), HANDLERS.items())
def test_artifact_imports_its_handler_alone(
    built: Path, local_twins: Path, function: str, handler: str, tmp_path: Path
) -> None:
    twin, artifact = local_twins / function, built / function
    # the same files and distributions (only the compiled ones' CPython tag may differ)
    assert names(twin) == names(artifact)
    assert sorted(twin.glob("*.dist-info")) and {d.name for d in twin.glob("*.dist-info")} == {
        d.name for d in artifact.glob("*.dist-info")
    }
    artifact = twin
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

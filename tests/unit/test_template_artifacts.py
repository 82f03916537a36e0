"""Each function's artifact is built from its own requirements file (functions/Makefile), with
the versions pyproject.toml pins; the Kafka functions carry no web framework."""

from __future__ import annotations

import re
import tomllib

import pytest

from harness.template import REPO_ROOT, project_template

FUNCTIONS = {
    "IntakeFunction": "intake",
    "ProcessFunction": "process",
    "NotifyFunction": "notify",
    "RedriveFunction": "redrive",
}
WEB_ONLY = {"fastapi", "mangum", "uvicorn", "starlette"}


def pins(lines: list[str]) -> dict[str, str]:
    """`name==version` lines → {normalized name: version}; anything else is an error."""
    found = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        assert m, f"not an exact pin: {raw!r}"
        found[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return found


def project_pins() -> dict[str, str]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return pins(pyproject["project"]["dependencies"])


def requirements(package: str) -> dict[str, str]:
    return pins((REPO_ROOT / "functions" / package / "requirements.txt").read_text().splitlines())


def test_every_function_is_built_by_the_makefile() -> None:
    template = project_template()
    assert set(template.functions()) == set(FUNCTIONS)
    makefile = (REPO_ROOT / "functions" / "Makefile").read_text()
    for name in FUNCTIONS:
        metadata = template.doc["Resources"][name]["Metadata"]
        assert metadata == {
            "BuildMethod": "makefile",
            "ContextPath": "functions",
            "ProjectRootDirectory": ".",
        }
        assert re.search(rf"^build-{name}:", makefile, re.MULTILINE), name


@pytest.mark.parametrize("package", FUNCTIONS.values())
def test_requirements_pin_what_pyproject_pins(package: str) -> None:
    project = project_pins()
    for name, version in requirements(package).items():
        assert project.get(name) == version, f"functions/{package}: {name}=={version}"


def test_every_runtime_dependency_reaches_some_artifact() -> None:
    used = set().union(*(requirements(p) for p in FUNCTIONS.values()))
    # the local API server, template.yaml reader, and the harness's HTTP clients (the functions
    # use requests' transport, urllib3, directly)
    harness_only = {"uvicorn", "httptools", "uvloop", "pyyaml", "requests"}
    assert set(project_pins()) - used == harness_only


@pytest.mark.parametrize("package", ["process", "notify"])
def test_kafka_functions_carry_no_web_framework(package: str) -> None:
    assert not set(requirements(package)) & WEB_ONLY


@pytest.mark.parametrize("line", ["fastapi>=0.1", "fastapi", "-e ."])
def test_only_exact_pins_are_accepted(line: str) -> None:
    with pytest.raises(AssertionError):
        pins([line])

"""The README is a promise: every make target and harness command it names exists, and its
configuration tables name every variable the functions and the harness read."""

from __future__ import annotations

import re

import pytest

from harness import cli
from harness.infra.settings import InfraSettings
from harness.template import REPO_ROOT, project_template

README = (REPO_ROOT / "README.md").read_text()
MAKEFILE = (REPO_ROOT / "Makefile").read_text()


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", MAKEFILE, re.MULTILINE))


def test_every_make_command_in_the_readme_is_a_target() -> None:
    named = set(re.findall(r"(?:^|`|\| )make ([a-z][a-z0-9-]*)", README, re.MULTILINE))
    assert {"demo", "test", "up", "down", "status"} <= named
    assert named - make_targets() == set()


HARNESS_COMMANDS = sorted(set(re.findall(r"python -m harness ([a-z-]+)", README)))


@pytest.mark.parametrize("command", HARNESS_COMMANDS)
def test_every_harness_command_in_the_readme_exists(command: str) -> None:
    args = [command, "--help"] if command != "infra" else ["infra", "--help"]
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    assert exited.value.code == 0


def test_the_configuration_tables_name_every_variable() -> None:
    t = project_template()
    for function in t.functions():
        for name in t.function_environment(function):
            assert f"`{name}`" in README, name
    for field in InfraSettings.model_fields:
        assert f"PAYGATE_{field.upper()}" in README, field

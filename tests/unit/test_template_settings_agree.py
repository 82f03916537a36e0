"""template.yaml declares exactly the environment variables each settings class reads."""

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from common import config
from harness.template import project_template

FUNCTIONS: dict[str, type[BaseSettings]] = {
    "IntakeFunction": config.IntakeSettings,
    "ProcessFunction": config.ProcessSettings,
    "NotifyFunction": config.NotifySettings,
    "RedriveFunction": config.RedriveSettings,
}


def test_every_function_in_the_template_has_a_settings_class() -> None:
    assert set(project_template().functions()) == set(FUNCTIONS)


@pytest.mark.parametrize(("function", "settings"), FUNCTIONS.items())
def test_settings_fields_match_template_environment(
    function: str, settings: type[BaseSettings]
) -> None:
    declared = set(project_template().function_environment(function))
    read = {name.upper() for name in settings.model_fields}
    assert read == declared


@pytest.mark.parametrize(("function", "settings"), FUNCTIONS.items())
def test_template_defaults_equal_settings_defaults(
    function: str, settings: type[BaseSettings]
) -> None:
    t = project_template()
    env = t.function_environment(function)
    values = {}
    secrets = set()
    for name, field in settings.model_fields.items():
        raw = env[name.upper()]
        if field.annotation is SecretStr:  # neither the template nor the settings default it
            assert raw.tag == "Ref"
            assert "Default" not in t.doc["Parameters"][raw.value]
            assert t.doc["Parameters"][raw.value]["NoEcho"] is True
            assert field.is_required() or field.get_default() == SecretStr("")
            secrets.add(name)
            values[name] = "x"
        else:
            values[name] = t.resolve(raw)
    from_template = settings(**values)
    for name, field in settings.model_fields.items():
        if name not in secrets:
            assert getattr(from_template, name) == field.get_default(call_default_factory=True)

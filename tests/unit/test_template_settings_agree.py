"""template.yaml declares exactly the environment variables each settings class reads."""

import pytest
from pydantic_settings import BaseSettings

from common import config
from harness.template import project_template

FUNCTIONS: dict[str, type[BaseSettings]] = {
    "IntakeFunction": config.IntakeSettings,
    "ProcessFunction": config.ProcessSettings,
    "NotifyFunction": config.NotifySettings,
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
    for name, field in settings.model_fields.items():
        if field.is_required():  # a secret: the template parameter must not default it either
            assert env[name.upper()].tag == "Ref"
            assert "Default" not in t.doc["Parameters"][env[name.upper()].value]
            values[name] = "x"
        else:
            values[name] = t.resolve(env[name.upper()])
    from_template = settings(**values)
    for name, field in settings.model_fields.items():
        if not field.is_required():
            assert getattr(from_template, name) == field.get_default(call_default_factory=True)

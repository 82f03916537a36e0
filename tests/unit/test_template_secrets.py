"""Every secret a function may read from Secrets Manager is granted to it, and only when its
ARN is given; locally (no ARN) the harness passes the keys as plain variables."""

from __future__ import annotations

import pytest

from harness.template import Intrinsic, project_template

FUNCTIONS = ["IntakeFunction", "ProcessFunction", "NotifyFunction"]


def granted(function: str) -> dict[str, str]:
    """Parameter holding a secret ARN → the condition under which the function may read it."""
    t = project_template()
    grants = {}
    for policy in t.functions()[function].get("Policies", []):
        assert isinstance(policy, Intrinsic) and policy.tag == "If", policy
        condition, then, otherwise = policy.value
        assert otherwise == Intrinsic("Ref", "AWS::NoValue")
        arn = then["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]
        assert arn.tag == "Ref"
        grants[arn.value] = condition
    return grants


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_secret_arn_read_is_granted_when_given(function: str) -> None:
    t = project_template()
    env = t.function_environment(function)
    read = {v.value for k, v in env.items() if k.endswith("_SECRET_ARN")}
    assert read, "every function reads at least one data key"
    grants = granted(function)
    assert set(grants) == read
    for parameter, condition in grants.items():
        assert t.doc["Parameters"][parameter]["Default"] == ""
        assert t.doc["Conditions"][condition] == Intrinsic(
            "Not", [Intrinsic("Equals", [Intrinsic("Ref", parameter), ""])]
        )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_secret_has_its_arn_beside_it(function: str) -> None:
    env = project_template().function_environment(function)
    keys = {"DATA_ENCRYPTION_KEY", "WEBHOOK_SECRET_KEY", "CARD_FINGERPRINT_KEY"} & set(env)
    assert {f"{k}_SECRET_ARN" for k in keys} == {k for k in env if k.endswith("_SECRET_ARN")}
    assert env["LOCALSTACK_HOST"] == Intrinsic("Ref", "LocalstackHost")
    assert project_template().parameters["LocalstackHost"] == ""

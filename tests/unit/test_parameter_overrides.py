"""PAYGATE_PARAMETER_OVERRIDES reaches the local functions' environment (like SAM's
--parameter-overrides), so a second stack can compress the webhook schedule."""

from __future__ import annotations

from pathlib import Path

from harness.infra.settings import InfraSettings
from harness.local_env import function_env


def test_overrides_replace_template_defaults(tmp_path: Path) -> None:
    infra = InfraSettings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        parameter_overrides="WebhookRetryScheduleSeconds=1,2,3 BankRetryBudgetSeconds=7 junk",
    )
    assert infra.template_parameters == {
        "WebhookRetryScheduleSeconds": "1,2,3",
        "BankRetryBudgetSeconds": "7",
    }
    assert function_env("NotifyFunction", infra)["WEBHOOK_RETRY_SCHEDULE_S"] == "1,2,3"
    assert function_env("ProcessFunction", infra)["BANK_RETRY_BUDGET_S"] == "7"


def test_no_overrides_keep_the_template(tmp_path: Path) -> None:
    infra = InfraSettings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    env = function_env("NotifyFunction", infra)
    assert env["WEBHOOK_RETRY_SCHEDULE_S"] == "5,300,1800,7200,18000,36000,36000"

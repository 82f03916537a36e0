"""The chaos suite's own stack: infrastructure + harness on a second port set and data folder
(`.data-chaos`), started and stopped by the suite, never the default stack.

Everything is driven through `python -m harness` with PAYGATE_* variables, so the chaos stack
runs exactly what `make up` runs; the suite only adds the knobs it needs (a compressed webhook
retry schedule, the pids it kills).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.infra import native
from harness.infra.settings import InfraSettings
from harness.processes import ManagedProcess
from harness.stack import components
from harness.template import REPO_ROOT

DATA_DIR = REPO_ROOT / ".data-chaos"
PORTS: Mapping[str, str] = {
    "PAYGATE_KAFKA_PORT": "39092",
    "PAYGATE_KAFKA_CONTROLLER_PORT": "39093",
    "PAYGATE_REDIS_PORT": "36379",
    "PAYGATE_MONGO_PORT": "37017",
    "PAYGATE_API_PORT": "33000",
    "PAYGATE_BANK_PORT": "38081",
    "PAYGATE_RECEIVER_PORT": "38082",
    "PAYGATE_STATUS_PORT": "38090",
}
RETRY_SCHEDULE_S = "2,4,8,15,30,60,60"
"""Webhook retries compressed from hours to seconds: a merchant that comes back is retried
within seconds, and a delivery is exhausted only after about 3 minutes."""


class StackError(RuntimeError):
    """The chaos stack did not start or stop; the message has the command's output."""


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    api_key: str
    webhook_secret: str


@dataclass(frozen=True)
class ChaosStack:
    data_dir: Path = DATA_DIR

    @cached_property
    def env(self) -> dict[str, str]:
        """The environment of every process of this stack."""
        return {
            **os.environ,
            **PORTS,
            "PAYGATE_DATA_DIR": str(self.data_dir),
            "PAYGATE_MODE": "native",
            "PAYGATE_PARAMETER_OVERRIDES": f"WebhookRetryScheduleSeconds={RETRY_SCHEDULE_S}",
        }

    @cached_property
    def settings(self) -> InfraSettings:
        return InfraSettings(
            _env_file=None,
            data_dir=self.data_dir,
            mode="native",
            kafka_port=int(PORTS["PAYGATE_KAFKA_PORT"]),
            kafka_controller_port=int(PORTS["PAYGATE_KAFKA_CONTROLLER_PORT"]),
            redis_port=int(PORTS["PAYGATE_REDIS_PORT"]),
            mongo_port=int(PORTS["PAYGATE_MONGO_PORT"]),
            api_port=int(PORTS["PAYGATE_API_PORT"]),
            bank_port=int(PORTS["PAYGATE_BANK_PORT"]),
            receiver_port=int(PORTS["PAYGATE_RECEIVER_PORT"]),
            status_port=int(PORTS["PAYGATE_STATUS_PORT"]),
            parameter_overrides=f"WebhookRetryScheduleSeconds={RETRY_SCHEDULE_S}",
        )

    def harness(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "harness", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"harness {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def up(self, clean: bool = True) -> None:
        """From scratch: stop anything this stack left running, wipe its data, start it."""
        if clean:
            self.down()
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.harness("up")

    def down(self) -> None:
        self.harness("down")

    def service(self, name: str) -> native.NativeService:
        """kafka | redis | mongodb: the infrastructure process of this stack."""
        return next(s for s in native.native_services(self.settings) if s.name == name)

    def component(self, name: str) -> ManagedProcess:
        """api | bank | receiver | process | notify | schedule: a harness process."""
        return next(c.process for c in components(self.settings) if c.process.name == name)

    def infra_up(self) -> None:
        """Restart whatever infrastructure is stopped (as `harness infra up` does)."""
        self.harness("infra", "up")

    def new_merchant(self, name: str) -> Merchant:
        doc: dict[str, Any] = json.loads(
            self.harness("keys", "create", "--merchant", name, "--json", timeout=60)
        )
        return Merchant(doc["merchantId"], doc["apiKey"], doc["webhookSecret"])

    @property
    def logs(self) -> list[Path]:
        return sorted(self.settings.run_dir.glob("*.log"))

"""The benchmark's own infrastructure and harness addresses (`PAYGATE_*`), beside the default
stack's: the full run and the smoke run each have a port set and a data folder."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.infra.settings import InfraSettings
from harness.template import REPO_ROOT


@dataclass(frozen=True)
class BenchEnv:
    name: str
    data_dir: Path
    kafka_port: int
    redis_port: int
    mongo_port: int
    api_port: int
    bank_port: int
    receiver_port: int
    status_port: int
    trivial_port: int

    def variables(self) -> dict[str, str]:
        return {
            "PAYGATE_MODE": "native",
            "PAYGATE_DATA_DIR": str(self.data_dir),
            "PAYGATE_KAFKA_PORT": str(self.kafka_port),
            "PAYGATE_KAFKA_CONTROLLER_PORT": str(self.kafka_port + 1),
            "PAYGATE_REDIS_PORT": str(self.redis_port),
            "PAYGATE_MONGO_PORT": str(self.mongo_port),
            "PAYGATE_API_PORT": str(self.api_port),
            "PAYGATE_BANK_PORT": str(self.bank_port),
            "PAYGATE_RECEIVER_PORT": str(self.receiver_port),
            "PAYGATE_STATUS_PORT": str(self.status_port),
        }

    def process_env(self, root: Path | None = None) -> dict[str, str]:
        """The environment of every process the benchmark starts; with `root`, one that
        imports the project's packages from the tree there (bench/worktree.py)."""
        tree = {"PYTHONPATH": str(root)} if root is not None else {}
        return {**os.environ, **self.variables(), **tree}

    def infra(self) -> InfraSettings:
        # pydantic-settings reads the environment; pass ours explicitly instead.
        v = self.variables()
        return InfraSettings(
            mode="native",
            data_dir=self.data_dir,
            kafka_port=int(v["PAYGATE_KAFKA_PORT"]),
            kafka_controller_port=int(v["PAYGATE_KAFKA_CONTROLLER_PORT"]),
            redis_port=self.redis_port,
            mongo_port=self.mongo_port,
            api_port=self.api_port,
            bank_port=self.bank_port,
            receiver_port=self.receiver_port,
            status_port=self.status_port,
        )

    def ports(self) -> list[int]:
        return [
            self.kafka_port,
            self.kafka_port + 1,
            self.redis_port,
            self.mongo_port,
            self.api_port,
            self.bank_port,
            self.receiver_port,
            self.status_port,
            self.trivial_port,
        ]

    def harness(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "harness", *args]


FULL = BenchEnv(
    name="bench",
    data_dir=REPO_ROOT / ".data-bench",
    kafka_port=24092,
    redis_port=24379,
    mongo_port=24017,
    api_port=24000,
    bank_port=24081,
    receiver_port=24082,
    status_port=24090,
    trivial_port=24001,
)

SMOKE = BenchEnv(
    name="bench-smoke",
    data_dir=REPO_ROOT / ".data-bench-smoke",
    kafka_port=25092,
    redis_port=25379,
    mongo_port=25017,
    api_port=25000,
    bank_port=25081,
    receiver_port=25082,
    status_port=25090,
    trivial_port=25001,
)

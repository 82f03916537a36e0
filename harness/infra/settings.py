"""Where the local infrastructure keeps its cache and data, and which ports it uses."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from harness.template import REPO_ROOT


class InfraSettings(BaseSettings):
    """`PAYGATE_*` environment variables; the defaults are DESIGN.md §7's addresses."""

    model_config = SettingsConfigDict(env_prefix="PAYGATE_", extra="ignore", frozen=True)

    mode: Literal["auto", "native", "docker", "external"] = "auto"
    """auto: Docker Compose when `docker info` succeeds, native processes otherwise.
    external: start nothing, wait for services someone else runs (the `app` container)."""
    data_dir: Path = REPO_ROOT / ".data"
    """Run-time data (Kafka log dirs, Redis AOF, SQLite files), pid files and logs."""
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "paygate")
    """Downloads and builds, reused across data folders and clones."""
    host: str = "127.0.0.1"
    """Where every service is reached (and where native ones listen)."""
    bind_host: str | None = None
    """Where the harness's HTTP services listen; None: `host`. 0.0.0.0 in a container."""
    kafka_host: str | None = None
    redis_host: str | None = None
    mongo_host: str | None = None
    """Where Kafka, Redis, MongoDB are reached when not at `host` (external mode: the compose
    service names kafka, redis, mongodb seen from the `app` container)."""
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    redis_port: int = 6379
    mongo_port: int = 27017
    api_port: int = 3000
    """The API Gateway emulation started by `harness up`."""
    bank_port: int = 8081
    receiver_port: int = 8082
    status_port: int = 8090
    """The harness's status page (`harness up` serves it; `harness status --html`)."""
    mongo_pool_size: int = 2
    """Connections per client process. FerretDB on SQLite serializes writes and slows down
    as concurrent writers contend (16 threads: 27 payments/s with pymongo's default pool,
    89 with 2 connections, measured); raise it for a real MongoDB (Docker path)."""
    kafka_heap: str = "512m"
    parameter_overrides: str = ""
    """template.yaml parameters for the local functions, `Name=Value` separated by spaces
    (like `sam deploy --parameter-overrides`), e.g. `WebhookRetryScheduleSeconds=2,4,8`."""
    ready_timeout_s: float = 90.0

    @property
    def template_parameters(self) -> dict[str, str]:
        pairs = [item.partition("=") for item in self.parameter_overrides.split()]
        return {name: value for name, sep, value in pairs if sep and name}

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def listen_host(self) -> str:
        return self.bind_host or self.host

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def bank_url(self) -> str:
        return f"http://{self.host}:{self.bank_port}"

    @property
    def receiver_url(self) -> str:
        return f"http://{self.host}:{self.receiver_port}"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host or self.host}:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.redis_host or self.host}:{self.redis_port}/0"

    @property
    def mongo_uri(self) -> str:
        return (
            f"mongodb://{self.mongo_host or self.host}:{self.mongo_port}/?directConnection=true"
            f"&maxPoolSize={self.mongo_pool_size}"
        )

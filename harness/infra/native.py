"""Kafka, Redis and FerretDB as plain local processes: installed once into a cache, run by pid.

- Kafka 4.x (KRaft, one combined broker+controller) from Maven Central jars, resolved by Maven
  from `harness/infra/kafka/pom.xml` into `<cache>/kafka-<pom hash>/libs`.
- Redis from Debian's `redis-server` package (installed with apt-get when missing and root:
  `debian_tool`, which harness/infra/chromium.py uses too).
- FerretDB 1.24 (SQLite backend) built from `harness/infra/ferretdb/` (a small Go `main` that
  embeds FerretDB as a library) into `<cache>/ferretdb-<source hash>/ferretdb-paygate`.

A cache entry is usable only once its `.complete` marker exists (written last), so an
interrupted download or build is redone, never half-used.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.infra import probes
from harness.infra.settings import InfraSettings
from harness.processes import ManagedProcess

INFRA_SRC = Path(__file__).resolve().parent
KAFKA_POM = INFRA_SRC / "kafka" / "pom.xml"
FERRETDB_SRC = INFRA_SRC / "ferretdb"
_MARKER = ".complete"


class InstallError(RuntimeError):
    """A download, package install or build of a local service failed."""


@dataclass(frozen=True)
class NativeService:
    name: str
    address: str
    install: Callable[[], None]
    prepare: Callable[[], None]
    process: ManagedProcess
    answers: Callable[[], bool]


def native_services(s: InfraSettings) -> list[NativeService]:
    return [_kafka(s), _redis(s), _ferretdb(s)]


# ---------------------------------------------------------------- cache helpers


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _cached(entry: Path, build: Callable[[Path], None]) -> Path:
    """Build into a temporary sibling, then move it into place and mark it complete."""
    if (entry / _MARKER).exists():
        return entry
    tmp = entry.with_name(entry.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    build(tmp)
    shutil.rmtree(entry, ignore_errors=True)
    tmp.rename(entry)
    (entry / _MARKER).write_text("ok\n")
    return entry


def _run(
    argv: list[str], what: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    result = subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise InstallError(f"{what} failed (exit {result.returncode}):\n{tail}")


def _require_tool(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise InstallError(f"`{tool}` is not on PATH: {hint}")
    return path


def debian_tool(command: str, package: str) -> str:
    """The path of `command`; when it is missing and we are root, Debian's `package` is
    installed first (apt-get). Otherwise InstallError, saying how to install it."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise InstallError(f"{command} is missing: sudo apt-get install -y {package}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-qq"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "-qq", package], f"apt-get install {package}", env=env)
    found = shutil.which(command)
    if found is None:
        raise InstallError(f"apt-get installed {package} but `{command}` is not on PATH")
    return found


# ---------------------------------------------------------------- Kafka


def kafka_libs_dir(s: InfraSettings) -> Path:
    return s.cache_dir / f"kafka-{_digest(KAFKA_POM)}" / "libs"


def _kafka(s: InfraSettings) -> NativeService:
    home = s.data_dir / "kafka"
    props = home / "server.properties"
    libs = kafka_libs_dir(s)
    java = shutil.which("java") or "java"

    def install() -> None:
        mvn = _require_tool("mvn", "install Maven (apt-get install maven)")
        _cached(
            libs.parent,
            lambda tmp: _run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(KAFKA_POM),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={tmp / 'libs'}",
                    "-DincludeScope=runtime",
                ],
                "resolving Kafka from Maven Central",
            ),
        )

    def prepare() -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "log4j2.yaml").write_text(_KAFKA_LOG4J)
        props.write_text(_kafka_properties(s, home / "logs"))
        if not (home / "logs" / "meta.properties").exists():
            cluster_id = kafka_cluster_id()
            _run(
                [
                    java,
                    "-cp",
                    f"{libs}/*",
                    f"-Dlog4j2.configurationFile={home / 'log4j2.yaml'}",
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                ],
                "formatting Kafka storage",
            )

    process = ManagedProcess(
        name="kafka",
        argv=[
            java,
            "-Xms256m",
            f"-Xmx{s.kafka_heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={home / 'log4j2.yaml'}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(props),
        ],
        run_dir=s.run_dir,
    )
    return NativeService(
        "kafka",
        s.kafka_bootstrap,
        install,
        prepare,
        process,
        lambda: probes.kafka_answers(s.kafka_bootstrap),
    )


def kafka_cluster_id() -> str:
    """A random cluster id (a UUID in URL-safe base64) that Kafka's storage tool accepts: one
    starting with "-" (1 in 64) would be read as an option and refused."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _kafka_properties(s: InfraSettings, log_dir: Path) -> str:
    h, port, ctl = s.host, s.kafka_port, s.kafka_controller_port
    return f"""\
# Written by harness/infra/native.py on every start; edit that file, not this one.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={h}:{ctl}
listeners=PLAINTEXT://{h}:{port},CONTROLLER://{h}:{ctl}
advertised.listeners=PLAINTEXT://{h}:{port},CONTROLLER://{h}:{ctl}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={log_dir}
# Topics come from template.yaml (python -m harness infra up); nothing appears by accident.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
# One node: internal topics must not wait for replicas that will never exist.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=33554432
log.retention.hours=168
"""


_KAFKA_LOG4J = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: org.apache.kafka.common.config
        level: WARN
      - name: kafka.log
        level: WARN
      - name: org.apache.kafka.storage
        level: WARN
"""


# ---------------------------------------------------------------- Redis


def _redis(s: InfraSettings) -> NativeService:
    home = s.data_dir / "redis"

    def install() -> None:
        debian_tool("redis-server", "redis-server")

    def prepare() -> None:
        home.mkdir(parents=True, exist_ok=True)

    process = ManagedProcess(
        name="redis",
        argv=[
            shutil.which("redis-server") or "redis-server",
            "--bind",
            s.host,
            "--port",
            str(s.redis_port),
            "--dir",
            str(home),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
        ],
        run_dir=s.run_dir,
    )
    return NativeService(
        "redis",
        f"{s.host}:{s.redis_port}",
        install,
        prepare,
        process,
        lambda: probes.redis_answers(s.redis_url),
    )


# ---------------------------------------------------------------- FerretDB


def ferretdb_binary(s: InfraSettings) -> Path:
    sources = [*sorted(FERRETDB_SRC.glob("*.go")), FERRETDB_SRC / "go.mod", FERRETDB_SRC / "go.sum"]
    return s.cache_dir / f"ferretdb-{_digest(*sources)}" / "ferretdb-paygate"


def _ferretdb(s: InfraSettings) -> NativeService:
    binary = ferretdb_binary(s)
    home = s.data_dir / "ferretdb"
    listen = f"{s.host}:{s.mongo_port}"

    def install() -> None:
        go = _require_tool("go", "install Go 1.24 or newer")
        _cached(
            binary.parent,
            lambda tmp: _run(
                [go, "build", "-trimpath", "-o", str(tmp / binary.name), "."],
                "building FerretDB (go build in harness/infra/ferretdb)",
                cwd=FERRETDB_SRC,
                env={"CGO_ENABLED": "0"},
            ),
        )

    def prepare() -> None:
        home.mkdir(parents=True, exist_ok=True)

    process = ManagedProcess(
        name="ferretdb",
        argv=[str(binary), "-listen", listen, "-data", str(home)],
        run_dir=s.run_dir,
    )
    return NativeService(
        "mongodb", listen, install, prepare, process, lambda: probes.mongo_answers(s.mongo_uri)
    )

"""`infra up | down | status`: one entry point over the native and the Docker paths.

Up is idempotent: a service that already answers on its port is left alone (ours: by pid file;
someone else's: reported as external and used). Down stops only the pids we started.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from harness.infra import docker, native, probes
from harness.infra.settings import InfraSettings
from harness.infra.topics import ensure_topics
from harness.template import project_template


class InfraError(RuntimeError):
    """A service could not be installed, started or reached; the message says which and why."""


@dataclass(frozen=True)
class ServiceState:
    name: str
    address: str
    state: str
    """running | started | external | stopped | down (ours, alive, not answering) | docker"""
    pid: int | None = None


@dataclass
class UpReport:
    mode: str
    services: list[ServiceState]
    topics: list[str] = field(default_factory=list)
    seconds: float = 0.0


def resolve_mode(s: InfraSettings) -> str:
    if s.mode != "auto":
        return s.mode
    return "docker" if docker.engine_available() else "native"


def up(s: InfraSettings) -> UpReport:
    started = time.monotonic()
    mode = resolve_mode(s)
    if mode == "docker":
        services = _docker_up(s)
    elif mode == "external":
        services = _external_up(s)
    else:
        services = _native_up(s)
    topics = ensure_topics(s.kafka_bootstrap, project_template().kafka_topics())
    return UpReport(mode, services, topics, time.monotonic() - started)


def down(s: InfraSettings) -> list[str]:
    """Stop what we started; return the names stopped."""
    stopped = [svc.name for svc in native.native_services(s) if svc.process.stop()]
    if resolve_mode(s) == "docker":
        result = docker.compose("down")
        if result.returncode != 0:
            raise InfraError(f"docker compose down failed:\n{result.stderr}")
        stopped.append("docker compose project paygate")
    return stopped


def status(s: InfraSettings) -> list[ServiceState]:
    return [_native_state(svc) for svc in native.native_services(s)]


def _native_state(svc: native.NativeService) -> ServiceState:
    pid = svc.process.pid()
    answers = svc.answers()
    if pid is not None:
        return ServiceState(svc.name, svc.address, "running" if answers else "down", pid)
    return ServiceState(svc.name, svc.address, "external" if answers else "stopped")


def _native_up(s: InfraSettings) -> list[ServiceState]:
    services = native.native_services(s)
    states = {svc.name: _native_state(svc) for svc in services}
    to_start = [svc for svc in services if states[svc.name].state == "stopped"]
    # Ours and alive but not answering yet: most likely still starting. Wait, don't restart.
    to_wait = [svc for svc in services if states[svc.name].state in ("stopped", "down")]
    if not to_wait:
        return list(states.values())
    if to_start:
        with ThreadPoolExecutor(max_workers=len(to_start)) as pool:
            for svc, future in [(svc, pool.submit(svc.install)) for svc in to_start]:
                try:
                    future.result()
                except native.InstallError as exc:
                    raise InfraError(f"{svc.name}: {exc}") from exc
    for svc in to_start:
        try:
            svc.prepare()
        except native.InstallError as exc:
            raise InfraError(f"{svc.name}: {exc}") from exc
        svc.process.start()
    _wait_ready(to_wait, s.ready_timeout_s)
    for svc in to_wait:
        states[svc.name] = ServiceState(svc.name, svc.address, "started", svc.process.pid())
    return [states[svc.name] for svc in services]


def _wait_ready(services: list[native.NativeService], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(services)
    while waiting:
        for svc in list(waiting):
            if svc.answers():
                waiting.remove(svc)
            elif svc.process.pid() is None:
                raise InfraError(
                    f"{svc.name} exited during start; last lines of {svc.process.log_file}:\n"
                    f"{svc.process.log_tail()}"
                )
        if waiting and time.monotonic() > deadline:
            svc = waiting[0]
            raise InfraError(
                f"{svc.name} did not answer on {svc.address} within {timeout:.0f}s; "
                f"last lines of {svc.process.log_file}:\n{svc.process.log_tail()}"
            )
        if waiting:
            time.sleep(0.25)


def _docker_up(s: InfraSettings) -> list[ServiceState]:
    result = docker.compose("up", "-d", "--wait", "--wait-timeout", str(int(s.ready_timeout_s)))
    if result.returncode != 0:
        logs = docker.compose("logs", "--tail", "40").stdout
        raise InfraError(f"docker compose up failed:\n{result.stderr}\n{logs}")
    return [ServiceState(svc.name, svc.address, "docker") for svc in native.native_services(s)]


def _external_up(s: InfraSettings) -> list[ServiceState]:
    """Start nothing: wait until services someone else runs answer (compose's, for the `app`
    container, where `depends_on: service_healthy` has usually made them ready already)."""
    checks: dict[str, tuple[str, Callable[[], bool]]] = {
        "kafka": (s.kafka_bootstrap, lambda: probes.kafka_answers(s.kafka_bootstrap)),
        "redis": (
            f"{s.redis_host or s.host}:{s.redis_port}",
            lambda: probes.redis_answers(s.redis_url),
        ),
        "mongodb": (
            f"{s.mongo_host or s.host}:{s.mongo_port}",
            lambda: probes.mongo_answers(s.mongo_uri),
        ),
    }
    deadline = time.monotonic() + s.ready_timeout_s
    waiting = list(checks)
    while True:
        waiting = [name for name in waiting if not checks[name][1]()]
        if not waiting:
            return [ServiceState(name, addr, "external") for name, (addr, _) in checks.items()]
        if time.monotonic() > deadline:
            missing = ", ".join(f"{name} at {checks[name][0]}" for name in waiting)
            raise InfraError(
                f"PAYGATE_MODE=external starts nothing, and within {s.ready_timeout_s:.0f}s "
                f"these did not answer: {missing}"
            )
        time.sleep(0.5)

"""docker-compose.yml and the Dockerfile: the same services on the same ports as the native path,
and an `app` profile whose container reaches them through settings the harness really reads.

No Docker engine runs these checks: they parse the files and compare them with InfraSettings.
"""

import importlib
import json
import re
import shlex
from typing import Any

import pytest
import yaml

from harness import container, stack
from harness.infra.docker import COMPOSE_FILE
from harness.infra.settings import InfraSettings
from harness.template import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
INFRA = ("kafka", "redis", "mongodb")


def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict)
    return doc


def port_maps(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each `ip:host:container` entry."""
    out = []
    for entry in service.get("ports", []):
        ip, host, inside = entry.split(":")
        out.append((ip, int(host), int(inside)))
    return out


def host_ports(service: dict[str, Any]) -> set[int]:
    return {host for _, host, _ in port_maps(service)}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def dockerfile(instruction: str) -> list[str]:
    return [args for word, args in dockerfile_instructions() if word == instruction]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in dockerfile("ENV"):
        env.update(pair.split("=", 1) for pair in shlex.split(args))
    return env


def dockerfile_healthcheck() -> list[str]:
    (health,) = dockerfile("HEALTHCHECK")
    command = json.loads(health[health.index("CMD ") + 4 :])
    assert isinstance(command, list)
    return command


def settings_env_names() -> set[str]:
    return {f"PAYGATE_{name.upper()}" for name in InfraSettings.model_fields}


def app_settings(monkeypatch: pytest.MonkeyPatch) -> InfraSettings:
    """InfraSettings as the app container reads them: the Dockerfile's ENV, then compose's."""
    for name in list(settings_env_names()):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**dockerfile_env(), **compose()["services"]["app"]["environment"]}.items():
        monkeypatch.setenv(name, str(value))
    return InfraSettings()


def test_services_ports_and_healthchecks() -> None:
    s = InfraSettings()
    services = compose()["services"]
    assert host_ports(services["kafka"]) == {s.kafka_port}
    assert host_ports(services["redis"]) == {s.redis_port}
    assert host_ports(services["mongodb"]) == {s.mongo_port}
    assert host_ports(services["kafka-ui"]) == {19000}
    assert host_ports(services["app"]) == {s.api_port, s.bank_port, s.receiver_port, s.status_port}
    for name, svc in services.items():
        assert "healthcheck" in svc, name
        assert all(p.startswith("127.0.0.1:") for p in svc["ports"]), name


def test_kafka_is_kraft_without_auto_created_topics_and_redis_keeps_an_aof() -> None:
    services = compose()["services"]
    env = services["kafka"]["environment"]
    assert "broker" in env["KAFKA_PROCESS_ROLES"] and "controller" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert not any("zookeeper" in name for name in services)
    assert "--appendonly" in services["redis"]["command"]
    assert services["mongodb"]["image"].startswith("mongo:7")


def test_every_image_is_pinned() -> None:
    images = [svc["image"] for svc in compose()["services"].values()]
    images += [args.split()[0] for args in dockerfile("FROM")]
    for image in images:
        _, sep, tag = image.rpartition(":")
        assert sep and tag and tag != "latest" and "/" not in tag, image
    assert dockerfile("FROM") == ["python:3.11-slim"]


def test_app_is_a_profile_started_after_healthy_infrastructure() -> None:
    services = compose()["services"]
    app = services["app"]
    assert app["profiles"] == ["app"]
    assert app["build"] == "."
    assert app["depends_on"] == {name: {"condition": "service_healthy"} for name in INFRA}
    assert all("profiles" not in services[name] for name in INFRA)  # `infra up` starts them
    assert app["init"] is True  # reaps the workers the components fork
    assert int(app["stop_grace_period"].removesuffix("s")) > container.STOP_TIMEOUT_S
    assert app["healthcheck"]["test"] == ["CMD", *dockerfile_healthcheck()]


def test_app_environment_names_are_settings_the_harness_reads() -> None:
    app_env = compose()["services"]["app"]["environment"]
    assert set(app_env) <= settings_env_names()
    image_env = {name for name in dockerfile_env() if name.startswith("PAYGATE_")}
    assert image_env and image_env <= settings_env_names()


def test_app_reaches_the_compose_services_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    s = app_settings(monkeypatch)
    services = compose()["services"]
    assert s.mode == "external"  # never `docker compose` or native installs inside
    assert s.listen_host == "0.0.0.0"
    assert s.kafka_bootstrap == "kafka:29092"
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"INTERNAL://{s.kafka_bootstrap}" in advertised.split(",")
    assert s.redis_url == "redis://redis:6379/0"
    assert s.mongo_uri.startswith("mongodb://mongodb:27017/")
    assert {inside for _, _, inside in port_maps(services["redis"])} == {6379}
    assert {inside for _, _, inside in port_maps(services["mongodb"])} == {27017}
    # Published ports land on the ports the components listen on inside.
    inside = {inside for _, _, inside in port_maps(services["app"])}
    assert inside == {s.api_port, s.bank_port, s.receiver_port, s.status_port}
    # Everything of its own it reaches on loopback, inside the container.
    assert s.bank_url == f"http://127.0.0.1:{s.bank_port}"
    assert s.data_dir.as_posix() == "/data"
    assert "app-data:/data" in services["app"]["volumes"]


def test_the_container_runs_every_stack_component_listening_everywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = app_settings(monkeypatch)
    cmds = container.commands(s)
    assert list(cmds) == [c.process.name for c in stack.components(s)]
    for name in ("api", "bank", "receiver", "status"):
        argv = cmds[name]
        assert argv[argv.index("--host") + 1] == "0.0.0.0", name
    assert cmds["api"][cmds["api"].index("--port") + 1] == str(s.api_port)
    urls = container.health_urls(s)
    assert urls["api"] == "http://127.0.0.1:3000/health"
    assert set(urls) == {"api", "bank", "receiver", "status"}


def test_dockerfile_runs_the_container_module_as_a_non_root_user() -> None:
    cmd = json.loads(dockerfile("CMD")[0])
    assert cmd[:2] == ["python", "-m"]
    module = importlib.import_module(cmd[2])
    assert module is container and callable(module.main)
    assert dockerfile_healthcheck() == [*cmd, "--check"]
    (user,) = dockerfile("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert f"--uid {user.split(':')[0]}" in " ".join(dockerfile("RUN"))
    installs = [args for args in dockerfile("RUN") if "pip install" in args]
    assert installs and not any("dev" in args for args in installs)
    assert dockerfile_env()["PAYGATE_DATA_DIR"] == "/data"
    s = InfraSettings()
    exposed = {s.api_port, s.bank_port, s.receiver_port, s.status_port}
    assert set(dockerfile("EXPOSE")[0].split()) == {str(port) for port in exposed}


def test_dockerignore_lets_in_only_what_the_dockerfile_copies() -> None:
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    copied = {src for args in dockerfile("COPY") for src in args.split()[:-1]}
    assert allowed == copied
    assert not any(name.startswith((".venv", ".data", ".git")) for name in allowed)
    assert "**/__pycache__" in lines
    for path in copied:
        assert (REPO_ROOT / path).exists(), path


def test_per_service_hosts_default_to_host() -> None:
    s = InfraSettings(host="10.0.0.5")
    assert s.listen_host == "10.0.0.5"
    assert s.kafka_bootstrap == "10.0.0.5:9092"
    assert s.redis_url == "redis://10.0.0.5:6379/0"
    assert s.mongo_uri.startswith("mongodb://10.0.0.5:27017/")

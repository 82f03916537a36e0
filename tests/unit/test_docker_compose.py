"""docker-compose.yml offers the same services on the same ports as the native path."""

from typing import Any

import yaml

from harness.infra.docker import COMPOSE_FILE
from harness.infra.settings import InfraSettings


def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict)
    return doc


def host_ports(service: dict[str, Any]) -> set[int]:
    return {int(p.split(":")[1]) for p in service.get("ports", [])}


def test_services_ports_and_healthchecks() -> None:
    s = InfraSettings()
    services = compose()["services"]
    assert host_ports(services["kafka"]) == {s.kafka_port}
    assert host_ports(services["redis"]) == {s.redis_port}
    assert host_ports(services["mongodb"]) == {s.mongo_port}
    assert host_ports(services["kafka-ui"]) == {19000}
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

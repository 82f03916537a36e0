"""Keys from AWS Secrets Manager, through localstack-client's session, against a local AWS
emulator that needs no Docker: moto's server, started here on LocalStack's port (4566; another
free port if 4566 is taken). Plain environment variables stay the default (the harness)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from pydantic import SecretStr

from chaos.tcp_proxy import TcpProxy
from common import config
from common.adapters.secrets_manager_secrets import (
    SecretUnavailableError,
    key_material,
    secrets_manager_client,
)
from common.domain.errors import TransientError
from common.security.sealed_box import new_key
from functions.intake.deps import IntakeRuntime
from functions.process.deps import ProcessRuntime
from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from harness.local_env import function_env

REGION = "eu-west-1"
LOCALSTACK_PORT = 4566


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def aws_host() -> Iterator[str]:
    """`host:port` of a moto server of our own, stopped (by its pid) after the module."""
    port = LOCALSTACK_PORT if port_is_free(LOCALSTACK_PORT) else free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while port_is_free(port):
            assert server.poll() is None, "moto server exited"
            assert time.monotonic() < deadline, "moto server did not listen within 60 s"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        secrets_manager_client.cache_clear()


def create_secret(aws_host: str, value: str) -> str:
    """A secret in the emulator (as an operator would create it), its ARN."""
    client: Any = boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=f"http://{aws_host}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    answer = client.create_secret(Name=f"paygate/test-{uuid.uuid4()}", SecretString=value)
    return str(answer["ARN"])


def test_key_is_read_from_the_secret_through_localstack_client(aws_host: str) -> None:
    key = new_key()
    arn = create_secret(aws_host, key)
    assert arn.startswith(f"arn:aws:secretsmanager:{REGION}:")
    assert key_material(SecretStr(""), arn, aws_host) == key
    assert key_material(SecretStr("ignored when an ARN is set"), arn, aws_host) == key
    client = secrets_manager_client(REGION, aws_host)
    assert client.meta.endpoint_url == f"http://{aws_host}"
    assert client.meta.region_name == REGION


def test_plain_value_is_the_default_and_asks_no_one() -> None:
    closed = f"127.0.0.1:{free_port()}"
    assert key_material(SecretStr("plain-key"), "", closed) == "plain-key"


def test_missing_secret_is_named_not_retried(aws_host: str) -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:paygate/none-{uuid.uuid4()}"
    with pytest.raises(SecretUnavailableError, match="ResourceNotFoundException") as info:
        key_material(SecretStr(""), arn, aws_host)
    assert arn in str(info.value)


def test_unreachable_endpoint_is_transient() -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:paygate/any"
    with pytest.raises(TransientError) as info:
        key_material(SecretStr(""), arn, f"127.0.0.1:{free_port()}")
    assert info.value.dependency == "secretsmanager"


def test_not_an_arn_is_refused_before_any_call() -> None:
    with pytest.raises(SecretUnavailableError, match="not a Secrets Manager secret ARN"):
        key_material(SecretStr(""), "paygate/data-key", "127.0.0.1:1")


def function_settings(
    monkeypatch: pytest.MonkeyPatch, function: str, overrides: dict[str, str]
) -> dict[str, str]:
    """The function's local environment (harness/local_env.py) with `overrides` applied."""
    env = {**function_env(function), **overrides}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_intake_runtime_opens_what_the_harness_sealed_with_the_key_from_the_secret(
    aws_host: str, infra: InfraSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The composition root, configured with ARNs only, reads a merchant's webhook secret
    that `harness keys` sealed with the local plain key: the same key, from Secrets Manager."""
    local = function_env("IntakeFunction")
    function_settings(
        monkeypatch,
        "IntakeFunction",
        {
            "DATA_ENCRYPTION_KEY": "",
            "DATA_ENCRYPTION_KEY_SECRET_ARN": create_secret(aws_host, local["DATA_ENCRYPTION_KEY"]),
            "WEBHOOK_SECRET_KEY": "",
            "WEBHOOK_SECRET_KEY_SECRET_ARN": create_secret(aws_host, local["WEBHOOK_SECRET_KEY"]),
            "CARD_FINGERPRINT_KEY": "",
            "CARD_FINGERPRINT_KEY_SECRET_ARN": create_secret(
                aws_host, local["CARD_FINGERPRINT_KEY"]
            ),
            "LOCALSTACK_HOST": aws_host,
        },
    )
    runtime = IntakeRuntime(config.load_settings(config.IntakeSettings))
    merchant = merchant_directory(infra).create("Secrets Manager Shop")
    assert runtime.directory().webhook_secret(merchant.merchant_id) == merchant.webhook_secret
    found = runtime.directory().authenticate(merchant.api_key)
    assert found is not None and found.merchant_id == merchant.merchant_id


def test_settings_need_the_key_or_its_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    function_settings(
        monkeypatch,
        "NotifyFunction",
        {"WEBHOOK_SECRET_KEY": "", "WEBHOOK_SECRET_KEY_SECRET_ARN": ""},
    )
    # through the module: tests/unit/test_config.py reloads it (a new SettingsError class)
    with pytest.raises(config.SettingsError, match="WEBHOOK_SECRET_KEY: missing"):
        config.load_settings(config.NotifySettings)
    monkeypatch.setenv("WEBHOOK_SECRET_KEY_SECRET_ARN", "arn:aws:secretsmanager:x:1:secret:k")
    assert config.load_settings(config.NotifySettings).webhook_secret_key_secret_arn.endswith(":k")


def test_a_cold_start_that_meets_its_dependencies_down_fails_and_the_next_one_works(
    aws_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: Secrets Manager and Redis unreachable when a process worker cold-starts. The
    invocation fails cleanly (a TransientError, retried by the event source mapping); nothing
    of it stays in the module's state, so the next invocation, with them back, works."""
    local = function_env("ProcessFunction")
    host, port = aws_host.split(":")
    proxy = TcpProxy(free_port(), (host, int(port)), mode="reset")
    proxy.start()
    try:
        function_settings(
            monkeypatch,
            "ProcessFunction",
            {
                "DATA_ENCRYPTION_KEY": "",
                "DATA_ENCRYPTION_KEY_SECRET_ARN": create_secret(
                    aws_host, local["DATA_ENCRYPTION_KEY"]
                ),
                "LOCALSTACK_HOST": f"127.0.0.1:{proxy.listen_port}",
                "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            },
        )
        runtime = ProcessRuntime(config.load_settings(config.ProcessSettings))
        assert runtime.breaker.current_state == "closed"  # built without Redis: the fallback
        with pytest.raises(TransientError):
            _ = runtime.service
        proxy.set(mode="pass")
        service = runtime.service  # the next invocation: built now
        assert service is runtime.service
    finally:
        proxy.stop()
        secrets_manager_client.cache_clear()

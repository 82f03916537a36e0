"""Key material from AWS Secrets Manager, or from the plain environment variable.

The only module that imports boto3 and localstack_client. A function's settings name, for
each key, either the key itself (`DATA_ENCRYPTION_KEY`, the local default the harness uses) or
the ARN of a Secrets Manager secret whose SecretString is the key
(`DATA_ENCRYPTION_KEY_SECRET_ARN`, which wins when set). With `LOCALSTACK_HOST` set (local
development and tests: LocalStack, or moto's server, on 4566), the client comes from
localstack-client's boto3 session for that host; otherwise from boto3's default session (the
function's IAM role on AWS). The secret's region is the one in its ARN.

Called from the composition roots when they first build what needs the key, never at import;
each client is built once per process.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from localstack_client.session import Session as LocalstackSession
from pydantic import SecretStr

from common.domain.errors import TransientError

_CLIENT_CONFIG = botocore.config.Config(
    connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
)


class SecretUnavailableError(RuntimeError):
    """The secret cannot be read and retrying will not help (missing, denied, not a string).
    Names the secret's ARN, never its value."""


def key_material(plain: SecretStr, secret_arn: str, localstack_host: str = "") -> str:
    """The key: the secret's SecretString when `secret_arn` is set, else the plain value."""
    if not secret_arn:
        return plain.get_secret_value()
    return secret_string(secret_arn, localstack_host)


def secret_string(secret_arn: str, localstack_host: str = "") -> str:
    client = secrets_manager_client(region_of(secret_arn), localstack_host)
    try:
        answer = client.get_secret_value(SecretId=secret_arn)
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
        if code in {"ThrottlingException", "InternalServiceError"}:
            raise TransientError("secretsmanager", code) from None
        raise SecretUnavailableError(f"secret {secret_arn}: {code}") from None
    except botocore.exceptions.BotoCoreError as exc:  # cannot connect, timed out...
        raise TransientError("secretsmanager", type(exc).__name__) from None
    value = answer.get("SecretString")
    if not isinstance(value, str) or not value:
        raise SecretUnavailableError(f"secret {secret_arn}: no SecretString")
    return value


def region_of(secret_arn: str) -> str:
    """`arn:aws:secretsmanager:<region>:<account>:secret:<name>` → region."""
    parts = secret_arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "secretsmanager" or not parts[3]:
        raise SecretUnavailableError(f"not a Secrets Manager secret ARN: {secret_arn!r}")
    return parts[3]


@cache
def secrets_manager_client(region: str, localstack_host: str = "") -> Any:
    """A Secrets Manager client for `region`: localstack-client's session when a local AWS
    endpoint is configured, boto3's default session (the IAM role on AWS) otherwise."""
    if localstack_host:
        session = LocalstackSession(localstack_host=localstack_host, region_name=region)
        return session.client("secretsmanager", config=_CLIENT_CONFIG)
    return boto3.session.Session().client(
        "secretsmanager", region_name=region, config=_CLIENT_CONFIG
    )

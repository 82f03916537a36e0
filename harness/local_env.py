"""The environment a function gets when the harness runs it locally.

It is template.yaml's environment for that function, resolved against the parameters'
defaults, plus the secrets the template leaves without a default (generated once per data
folder into `local-secrets.json`, mode 0600) and local-development overrides. The same
values feed the API emulation, `harness invoke`, `harness keys` and the tests, so a merchant
created by one is known to the others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from common.security.sealed_box import new_key
from harness.infra.settings import InfraSettings
from harness.template import Intrinsic, project_template

LOCAL_OVERRIDES: Mapping[str, str] = {
    # Local development delivers webhooks to the demo receiver on 127.0.0.1.
    "AllowPrivateWebhookUrls": "true",
}


def local_secrets(data_dir: Path) -> dict[str, str]:
    """Template parameters that have no default (secrets), generated once per data folder."""
    path = data_dir / "local-secrets.json"
    wanted = [
        name
        for name, spec in (project_template().doc.get("Parameters") or {}).items()
        if "Default" not in spec
    ]
    existing: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if all(name in existing for name in wanted):
        return existing
    secrets = {**{name: new_key() for name in wanted}, **existing}
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(secrets, f)
    return secrets


def function_env(function: str, infra: InfraSettings | None = None) -> dict[str, str]:
    """Environment variables for one function, as strings, ready for os.environ."""
    infra = infra or InfraSettings()
    template = project_template()
    params = {
        **local_secrets(infra.data_dir),
        **LOCAL_OVERRIDES,
        "KafkaBootstrapServers": infra.kafka_bootstrap,
        "RedisUrl": infra.redis_url,
        "MongoUri": infra.mongo_uri,
        "BankUrl": infra.bank_url,
        **infra.template_parameters,
    }
    env = {}
    for name, raw in template.function_environment(function).items():
        value = template.resolve(raw, params) if isinstance(raw, Intrinsic) else raw
        env[name] = str(value)
    return env

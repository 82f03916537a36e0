"""DESIGN.md §9: two data keys, each held only where it is needed. Notify, which dials
merchant-controlled URLs, holds the webhook-secret key and cannot open a card token; process,
which opens card tokens for the bank, cannot open a merchant's webhook secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import IntakeSettings, NotifySettings, ProcessSettings
from common.security.card_vault import CardVault
from common.security.keyed_hash import KeyedHasher
from common.security.sealed_box import SealedBox, SealedBoxError, decode_key
from harness.infra.settings import InfraSettings
from harness.local_env import function_env
from harness.template import project_template

CARD_KEY = {"DATA_ENCRYPTION_KEY", "DATA_ENCRYPTION_KEY_SECRET_ARN"}
WEBHOOK_KEY = {"WEBHOOK_SECRET_KEY", "WEBHOOK_SECRET_KEY_SECRET_ARN"}


def test_each_key_reaches_only_its_functions() -> None:
    env = {
        f: set(project_template().function_environment(f)) for f in project_template().functions()
    }
    assert {f for f, names in env.items() if names & CARD_KEY} == {
        "IntakeFunction",
        "ProcessFunction",
    }
    assert {f for f, names in env.items() if names & WEBHOOK_KEY} == {
        "IntakeFunction",
        "NotifyFunction",
    }
    fields = {
        cls.__name__: set(cls.model_fields)
        for cls in (IntakeSettings, ProcessSettings, NotifySettings)
    }
    assert "data_encryption_key" not in fields["NotifySettings"]
    assert "webhook_secret_key" not in fields["ProcessSettings"]


def vault(key: str) -> CardVault:
    return CardVault(SealedBox(decode_key(key)), KeyedHasher(bytes(32)))


def test_notify_cannot_open_a_card_token_and_process_no_webhook_secret(tmp_path: Path) -> None:
    infra = InfraSettings(data_dir=tmp_path)  # keys generated for this test only
    intake = function_env("IntakeFunction", infra)
    notify = function_env("NotifyFunction", infra)
    process = function_env("ProcessFunction", infra)
    assert intake["DATA_ENCRYPTION_KEY"] != intake["WEBHOOK_SECRET_KEY"]
    token = vault(intake["DATA_ENCRYPTION_KEY"]).tokenize("4242424242424242", "tx-1")
    with pytest.raises(SealedBoxError):
        vault(notify["WEBHOOK_SECRET_KEY"]).reveal(token, "tx-1")
    assert vault(process["DATA_ENCRYPTION_KEY"]).reveal(token, "tx-1") == "4242424242424242"
    sealed = SealedBox(decode_key(intake["WEBHOOK_SECRET_KEY"])).seal(b"whsec_x", b"ctx")
    with pytest.raises(SealedBoxError):
        SealedBox(decode_key(process["DATA_ENCRYPTION_KEY"])).open(sealed, b"ctx")
    assert SealedBox(decode_key(notify["WEBHOOK_SECRET_KEY"])).open(sealed, b"ctx") == b"whsec_x"

import importlib

import pytest

from common import config


def test_defaults_are_the_local_runtime_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MONGO_URI", "MONGO_DATABASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", "k")
    monkeypatch.setenv("WEBHOOK_SECRET_KEY", "k")
    monkeypatch.setenv("CARD_FINGERPRINT_KEY", "k")
    s = config.IntakeSettings()
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.mongo_uri == "mongodb://127.0.0.1:27017/?directConnection=true"
    assert s.payment_requested_topic == "payments.requested"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "b1:9092,b2:9092")
    monkeypatch.setenv("MONGO_DATABASE", "other")
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", "k")
    s = config.ProcessSettings()
    assert s.kafka_bootstrap_servers == "b1:9092,b2:9092"
    assert s.mongo_database == "other"


def test_bad_values_are_rejected_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(config.SettingsError, match="LOG_LEVEL: string_pattern_mismatch") as info:
        config.load_settings(config.NotifySettings)
    assert "LOUD" not in str(info.value)


def test_nothing_is_read_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "LOUD")  # would fail validation if read at import
    importlib.reload(config)
    config.intake_settings.cache_clear()


def test_factories_are_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    config.notify_settings.cache_clear()
    monkeypatch.setenv("WEBHOOK_SECRET_KEY", "k")
    first = config.notify_settings()
    monkeypatch.setenv("MONGO_DATABASE", "changed-later")
    assert config.notify_settings() is first
    config.notify_settings.cache_clear()


def test_secrets_are_required_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATA_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("WEBHOOK_SECRET_KEY", "k")
    monkeypatch.setenv("CARD_FINGERPRINT_KEY", "very-secret-value")
    with pytest.raises(config.SettingsError, match="DATA_ENCRYPTION_KEY: missing") as info:
        config.load_settings(config.IntakeSettings)
    assert "very-secret-value" not in str(info.value)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", "another-secret")
    s = config.IntakeSettings()
    assert "another-secret" not in repr(s) and "very-secret-value" not in str(s)


def test_webhook_ports_default_to_80_and_443_and_are_configurable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", "k")
    monkeypatch.setenv("WEBHOOK_SECRET_KEY", "k")
    monkeypatch.setenv("CARD_FINGERPRINT_KEY", "k")
    assert config.NotifySettings().webhook_ports == {80, 443}
    monkeypatch.setenv("WEBHOOK_ALLOWED_PORTS", "443,8443")
    assert config.IntakeSettings().webhook_ports == {443, 8443}
    assert config.NotifySettings().webhook_ports == {443, 8443}
    for bad, why in (("0", "value_error"), ("443,", "string_pattern_mismatch")):
        monkeypatch.setenv("WEBHOOK_ALLOWED_PORTS", bad)
        with pytest.raises(config.SettingsError, match=f"WEBHOOK_ALLOWED_PORTS: {why}"):
            config.load_settings(config.NotifySettings)

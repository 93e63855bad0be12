"""Settings from the environment: bad values name the variable; secrets stay out of repr."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from releval_judge.config import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RELEVAL_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.database_url is None  # the embedded database
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.root_path == ""
    assert settings.max_provider_calls == 512
    assert settings.outage_batches == 3
    assert settings.static_tokens == []
    assert settings.data_dir == Path(".releval")


def test_values_are_read_from_releval_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEVAL_DATABASE_URL", "postgresql://db/releval")
    monkeypatch.setenv("RELEVAL_PORT", "9000")
    monkeypatch.setenv("RELEVAL_HOST", "0.0.0.0")
    monkeypatch.setenv("RELEVAL_ROOT_PATH", "/releval/")
    monkeypatch.setenv("RELEVAL_API_TOKENS", " one, two ,,three ")
    monkeypatch.setenv("RELEVAL_MAX_PROVIDER_CALLS", "64")
    monkeypatch.setenv("RELEVAL_OUTAGE_BATCHES", "5")
    monkeypatch.setenv("RELEVAL_LOG_FORMAT", "console")
    monkeypatch.setenv("RELEVAL_DATA_DIR", "/var/lib/releval")
    settings = load_settings()
    assert settings.database_url == "postgresql://db/releval"
    assert settings.port == 9000
    assert settings.host == "0.0.0.0"
    assert settings.root_path == "/releval"
    assert settings.static_tokens == ["one", "two", "three"]
    assert settings.max_provider_calls == 64
    assert settings.outage_batches == 5
    assert settings.log_format == "console"
    assert settings.data_dir == Path("/var/lib/releval")


def test_database_url_is_an_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://platform/db")
    assert load_settings().database_url == "postgresql://platform/db"
    monkeypatch.setenv("RELEVAL_DATABASE_URL", "postgresql://ours/db")
    assert load_settings().database_url == "postgresql://ours/db", "RELEVAL_ wins"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RELEVAL_PORT", "abc"),
        ("RELEVAL_PORT", "70000"),
        ("RELEVAL_ROOT_PATH", "no-slash"),
        ("RELEVAL_MAX_PROVIDER_CALLS", "0"),
        ("RELEVAL_OUTAGE_BATCHES", "many"),
        ("RELEVAL_LOG_FORMAT", "xml"),
        ("RELEVAL_LOG_LEVEL", "loud"),
        ("RELEVAL_MAX_BODY_BYTES", "10"),
        ("RELEVAL_SHUTDOWN_GRACE_S", "-1"),
    ],
)
def test_a_bad_value_raises_settings_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert f"{variable}:" in str(caught.value)


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEVAL_PORT", "abc")
    monkeypatch.setenv("RELEVAL_ROOT_PATH", "releval")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "RELEVAL_PORT" in str(caught.value)
    assert "RELEVAL_ROOT_PATH" in str(caught.value)
    assert "must start with '/'" in str(caught.value)


def test_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEVAL_API_TOKENS", "static-token-123,other-token-456")
    monkeypatch.setenv("RELEVAL_SECRET_KEY", "encryption-key-789")
    settings = load_settings()
    for text in [repr(settings), str(settings), repr(settings.model_dump())]:
        assert "static-token-123" not in text
        assert "other-token-456" not in text
        assert "encryption-key-789" not in text
    assert settings.static_tokens == ["static-token-123", "other-token-456"]
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "encryption-key-789"

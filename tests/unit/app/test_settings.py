"""Settings: defaults, the HYPERLAW_ environment prefix, and refusal of bad values at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.settings import Settings, load_settings


def test_defaults_are_the_embedded_sqlite_database(monkeypatch):
    monkeypatch.delenv("HYPERLAW_DATABASE_URL", raising=False)
    assert Settings().database_url == "sqlite:///./hyperlaw.db"


def test_environment_prefix(monkeypatch):
    monkeypatch.setenv("HYPERLAW_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("HYPERLAW_SWEEP_CAP", "7")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.sweep_cap == 7


def test_env_file(tmp_path, monkeypatch):
    monkeypatch.delenv("HYPERLAW_MAX_ATTEMPTS", raising=False)
    env = tmp_path / "hyperlaw.env"
    env.write_text("HYPERLAW_MAX_ATTEMPTS=5\n")
    assert Settings(_env_file=env).max_attempts == 5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"database_url": "mysql://x/y"}, "neither SQLite nor PostgreSQL"),
        ({"heartbeat_interval_s": 10, "heartbeat_timeout_s": 15}, "must exceed twice"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_values_are_refused(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**kwargs)


def test_load_settings_reads_the_named_env_file_and_flags_win(tmp_path, monkeypatch):
    env = tmp_path / "hyperlaw.env"
    env.write_text("HYPERLAW_DATABASE_URL=sqlite:///from-file.db\nHYPERLAW_SWEEP_CAP=9\n")
    monkeypatch.setenv("HYPERLAW_ENV_FILE", str(env))
    monkeypatch.delenv("HYPERLAW_DATABASE_URL", raising=False)
    monkeypatch.delenv("HYPERLAW_SWEEP_CAP", raising=False)
    assert load_settings().database_url == "sqlite:///from-file.db"
    assert load_settings(database_url=None).sweep_cap == 9
    assert load_settings(database_url="sqlite:///flag.db").database_url == "sqlite:///flag.db"

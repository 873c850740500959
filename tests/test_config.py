"""Configuration: database URL normalization, Neon SSL, engine options, the loud SQLite fallback and SECRET_KEY rules."""

from __future__ import annotations

import logging
import secrets

import pytest

from chatapp import create_app
from chatapp.config import (
    ConfigError,
    PoolSettings,
    engine_options_for,
    load_settings,
    mask_url,
    normalize_database_url,
)
from support.databases import TEST_SECRET_KEY

DEVELOPMENT = {"CHATAPP_ENV": "development"}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("postgres://u:p@host/db", "postgresql+psycopg2://u:p@host/db"),
        ("postgresql://u:p@host/db", "postgresql+psycopg2://u:p@host/db"),
        ("postgresql+psycopg2://u@host/db", "postgresql+psycopg2://u@host/db"),
    ],
)
def test_postgres_schemes_become_psycopg2(raw, expected):
    assert normalize_database_url(raw) == (expected, [])


def test_asyncpg_url_is_converted_with_a_warning():
    url, warnings = normalize_database_url("postgresql+asyncpg://u:p@ep-x.us-east-2.aws.neon.tech/db?ssl=require")
    assert url == "postgresql+psycopg2://u:p@ep-x.us-east-2.aws.neon.tech/db?sslmode=require"
    assert len(warnings) == 1 and "asyncpg" in warnings[0]


def test_neon_gets_sslmode_require_and_keeps_its_parameters():
    url, _ = normalize_database_url(
        "postgresql://u:p@ep-cool-1-pooler.eu-central-1.aws.neon.tech/neondb"
        "?channel_binding=require&options=endpoint%3Dep-cool-1"
    )
    assert "sslmode=require" in url
    assert "channel_binding=require" in url
    assert "options=endpoint%3Dep-cool-1" in url


def test_explicit_sslmode_wins_and_disable_is_refused_for_neon():
    url, _ = normalize_database_url("postgresql://u@ep-x.neon.tech/db?sslmode=verify-full")
    assert "sslmode=verify-full" in url and "sslmode=require" not in url
    with pytest.raises(ConfigError, match="Neon requires SSL"):
        normalize_database_url("postgresql://u@ep-x.neon.tech/db?sslmode=disable")
    local, _ = normalize_database_url("postgresql://u@localhost/db")
    assert "sslmode" not in local


def test_unsupported_scheme_is_refused():
    with pytest.raises(ConfigError, match="mysql"):
        normalize_database_url("mysql://u@h/db")


def test_password_is_masked():
    assert mask_url("postgresql+psycopg2://user:hunter2@host/db") == "postgresql+psycopg2://user:***@host/db"


def test_postgres_engine_options_defaults_and_env():
    options = engine_options_for("postgresql+psycopg2://u@h/db")
    assert options["pool_pre_ping"] is False  # liveness: only idle connections are pinged
    assert (options["pool_size"], options["max_overflow"], options["pool_timeout"], options["pool_recycle"]) == (5, 10, 30, 240)
    args = options["connect_args"]
    assert args["connect_timeout"] == 10 and args["application_name"] == "chatapp" and args["keepalives"] == 1
    assert "options" not in args  # Neon's pooler rejects startup options
    pool = PoolSettings.from_env({"DB_POOL_SIZE": "2", "DB_POOL_RECYCLE": "100", "DB_CONNECT_TIMEOUT": "4", "DB_PING_IDLE_SECONDS": "2.5"})
    assert pool.ping_idle_seconds == 2.5 and PoolSettings.from_env({}).ping_idle_seconds == 5.0
    tuned = engine_options_for("postgresql+psycopg2://u@h/db", pool)
    assert (tuned["pool_size"], tuned["pool_recycle"], tuned["connect_args"]["connect_timeout"]) == (2, 100, 4)
    with pytest.raises(ConfigError, match="DB_POOL_SIZE"):
        PoolSettings.from_env({"DB_POOL_SIZE": "many"})
    with pytest.raises(ConfigError, match="DB_PING_IDLE_SECONDS"):
        PoolSettings.from_env({"DB_PING_IDLE_SECONDS": "-1"})


def test_pool_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DB_POOL_RECYCLE", "120")
    monkeypatch.setenv("DB_PING_IDLE_SECONDS", "")  # blank: the default
    assert (PoolSettings.from_env().recycle, PoolSettings.from_env().ping_idle_seconds) == (120, 5.0)
    assert PoolSettings.from_env({"DB_POOL_RECYCLE": "60"}).recycle == 60  # overrides win
    assert engine_options_for("postgresql+psycopg2://u@h/db")["pool_recycle"] == 120


def test_missing_database_url_falls_back_to_sqlite_loudly(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="chatapp")
    app = create_app({"instance_path": str(tmp_path), "DATABASE_URL": "", **DEVELOPMENT})
    db_file = tmp_path / "chatapp.db"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{db_file}"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    fallback = [w for w in warnings if "DATABASE_URL is not set" in w]
    assert fallback and str(db_file) in fallback[0] and "stays on this machine" in fallback[0]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(m.startswith("Database: sqlite:///") for m in infos)


def test_startup_log_masks_the_password(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="chatapp")
    create_app({"instance_path": str(tmp_path), "DATABASE_URL": "postgresql://me:s3cret@127.0.0.1:1/x", "SECRET_KEY": TEST_SECRET_KEY})
    text = caplog.text
    assert "s3cret" not in text and "me:***@127.0.0.1:1/x" in text


def test_secret_key_is_generated_once_and_kept_in_development(tmp_path):
    first = load_settings(str(tmp_path), DEVELOPMENT)
    second = load_settings(str(tmp_path), DEVELOPMENT).values["SECRET_KEY"]
    assert first.values["SECRET_KEY"] == second and len(second) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert any("Generated a new SECRET_KEY" in warning for warning in first.warnings)
    assert load_settings(str(tmp_path), {**DEVELOPMENT, "SECRET_KEY": TEST_SECRET_KEY}).values["SECRET_KEY"] == TEST_SECRET_KEY
    weak = load_settings(str(tmp_path), {**DEVELOPMENT, "SECRET_KEY": "dev"})
    assert weak.values["SECRET_KEY"] == "dev" and any("development only" in w for w in weak.warnings)


@pytest.mark.parametrize(
    "key, problem",
    [
        ("", "SECRET_KEY is not set"),
        ("change-me", 'SECRET_KEY is the placeholder "change-me"'),
        ("Change_Me", "placeholder"),
        ("changeme-changeme-changeme-changeme", "placeholder"),
        ("secret", "placeholder"),
        ("dev", "placeholder"),
        ("a-short-but-random-Kx81", "too short (23 characters; at least 32)"),
        ("ab" * 20, "not random"),
    ],
)
def test_production_refuses_a_missing_short_or_placeholder_secret_key(tmp_path, monkeypatch, key, problem):
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(ConfigError) as refused:
        load_settings(str(tmp_path / "instance"), {"SECRET_KEY": key, "CHATAPP_ENV": "production"})
    message = str(refused.value)
    assert problem in message and "\n" not in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in message
    assert "CHATAPP_ENV=development" in message
    assert not (tmp_path / "instance").exists()  # production never writes a key of its own


def test_production_accepts_a_generated_key_and_development_is_flask_debug_or_testing(tmp_path, monkeypatch):
    key = secrets.token_urlsafe(32)
    assert load_settings(str(tmp_path), {"SECRET_KEY": key}).values["SECRET_KEY"] == key
    monkeypatch.setenv("FLASK_DEBUG", "1")  # what `flask run --debug` sets
    assert load_settings(str(tmp_path), {"SECRET_KEY": "dev"}).values["SECRET_KEY"] == "dev"
    monkeypatch.delenv("FLASK_DEBUG")
    assert load_settings(str(tmp_path), {"SECRET_KEY": "x"}, testing=True).values["SECRET_KEY"] == "x"
    app = create_app({"instance_path": str(tmp_path), "DATABASE_URL": "", "SECRET_KEY": "s", "TESTING": True})
    assert app.config["SECRET_KEY"] == "s"


def test_an_unwritable_instance_folder_is_one_clear_line():
    # sysfs refuses new directories even to root, as a read-only or foreign-owned folder would.
    refused_path = "/sys/chatapp-instance"
    with pytest.raises(ConfigError) as refused:
        load_settings(refused_path, DEVELOPMENT)
    message = str(refused.value)
    assert message.startswith(f"cannot use the instance folder {refused_path} (")
    assert "set CHATAPP_INSTANCE_PATH" in message and "\n" not in message


def test_an_instance_path_that_is_a_file_is_one_clear_line(tmp_path):
    in_the_way = tmp_path / "instance"
    in_the_way.write_text("not a folder")
    with pytest.raises(ConfigError) as refused:
        load_settings(str(in_the_way), DEVELOPMENT)
    message = str(refused.value)
    assert f"cannot use the instance folder {in_the_way} (it is not a directory)" in message
    assert "CHATAPP_INSTANCE_PATH" in message and "\n" not in message

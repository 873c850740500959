"""The typed environment (chatapp.settings): one-line errors naming the variable, .env loading,
and .env.example read the way systemd reads it, value by value, by chatapp and gunicorn.conf.py."""

from __future__ import annotations

import re
import runpy
import secrets

import pytest

from chatapp.config import load_settings
from chatapp.settings import (
    AppSettings,
    AssistantSettings,
    ConfigError,
    GunicornSettings,
    LoggingSettings,
    PoolSettings,
    ProxySettings,
    ReplicaSettings,
    load_env_file,
)
from support.servers import ROOT

SETTINGS_CLASSES = (AppSettings, PoolSettings, ReplicaSettings, ProxySettings, AssistantSettings, GunicornSettings)
PATH_VARIABLES = {"CHATAPP_ENV_FILE", "CHATAPP_INSTANCE_PATH"}
# Read by boot.sh and make bench, not by chatapp.
OTHER_VARIABLES = {"MIGRATION_DATABASE_URL", "BENCH_SERVER_URL", "BENCH_DATABASE"}
ASSIGNMENT = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def variables(*classes: type) -> set[str]:
    return {field.validation_alias for cls in classes for field in cls.model_fields.values()}


def systemd_environment_file(text: str, uncomment: bool) -> dict[str, str]:
    """Parse like systemd's EnvironmentFile=: `#` and `;` start comment lines only, a value is
    everything after `=` (an inline "# ..." included), surrounding blanks and quotes removed.
    With `uncomment`, the commented-out assignments (`# NAME=value`) count as set."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if uncomment and line.startswith("#"):
            line = line.lstrip("#").strip()
        if not line or line[0] in "#;":
            continue
        match = ASSIGNMENT.match(line)
        if match:
            value = match["value"].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[match["name"]] = value
    return env


@pytest.mark.parametrize(
    "cls, overrides, message",
    [
        (PoolSettings, {"DB_POOL_RECYCLE": "abc"}, 'DB_POOL_RECYCLE must be an integer, got "abc"'),
        (PoolSettings, {"DB_PING_IDLE_SECONDS": "soon"}, 'DB_PING_IDLE_SECONDS must be a number, got "soon"'),
        (PoolSettings, {"DB_POOL_SIZE": "0"}, 'DB_POOL_SIZE must be >= 1, got "0"'),
        (ProxySettings, {"PROXY_FIX_X_FOR": "-1"}, 'PROXY_FIX_X_FOR must be >= 0, got "-1"'),
        (AssistantSettings, {"ASSISTANT_TEMPERATURE": "9"}, 'ASSISTANT_TEMPERATURE must be between 0 and 2, got "9"'),
        (AssistantSettings, {"ASSISTANT_TIMEOUT": "0"}, 'ASSISTANT_TIMEOUT must be > 0, got "0"'),
        (GunicornSettings, {"GUNICORN_PRELOAD": "maybe"}, 'GUNICORN_PRELOAD must be true or false, got "maybe"'),
        (GunicornSettings, {"PORT": "http"}, 'PORT must be an integer, got "http"'),
        (AppSettings, {"CHATAPP_ENV": "staging"}, "CHATAPP_ENV must be one of 'production' or 'development'"),
        (AppSettings, {"LOGIN_LIMIT_PER_ACCOUNT": "lots"}, "LOGIN_LIMIT_PER_ACCOUNT must be a rate limit such as"),
        (AppSettings, {"RATELIMIT_STORAGE_URI": "shelve://here"}, "RATELIMIT_STORAGE_URI must be a storage URI such as"),
        (LoggingSettings, {"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of 'DEBUG', 'INFO'"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(cls, overrides, message):
    with pytest.raises(ConfigError) as refused:
        cls.from_env(overrides)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_values_come_from_the_environment_and_blank_means_unset(monkeypatch):
    monkeypatch.setenv("GUNICORN_THREADS", " 8 ")
    monkeypatch.setenv("GUNICORN_TIMEOUT", "")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = GunicornSettings.from_env()
    assert (settings.threads, settings.timeout, settings.log_level) == (8, 60, "DEBUG")
    assert GunicornSettings.from_env({"GUNICORN_THREADS": "2"}).threads == 2  # overrides win
    assert GunicornSettings.from_env({"GUNICORN_THREADS": ""}).threads == 4  # a blank override unsets


def test_env_file_in_the_working_directory_loads_without_overriding(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHATAPP_ENV_FILE", raising=False)
    monkeypatch.setenv("GUNICORN_THREADS", "3")
    monkeypatch.delenv("GUNICORN_KEEPALIVE", raising=False)
    (tmp_path / ".env").write_text("GUNICORN_THREADS=9\nGUNICORN_KEEPALIVE=5\n")
    assert load_env_file() == tmp_path / ".env"
    settings = GunicornSettings.from_env()
    assert (settings.threads, settings.keepalive) == (3, 5)  # the environment wins over .env


def test_chatapp_env_file_names_another_file_and_must_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GUNICORN_MAX_REQUESTS", raising=False)
    named = tmp_path / "chatapp.env"
    named.write_text("GUNICORN_MAX_REQUESTS=500\n")
    monkeypatch.setenv("CHATAPP_ENV_FILE", str(named))
    assert load_env_file() == named and GunicornSettings.from_env().max_requests == 500
    monkeypatch.setenv("CHATAPP_ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(ConfigError, match="CHATAPP_ENV_FILE names .*missing.env, which is not a readable file"):
        load_env_file()
    monkeypatch.delenv("CHATAPP_ENV_FILE")
    assert load_env_file() is None  # no .env in the working directory: nothing to load


def test_env_example_puts_every_comment_on_its_own_line():
    text = (ROOT / ".env.example").read_text()
    env = systemd_environment_file(text, uncomment=True)
    inline = {name: value for name, value in env.items() if "#" in value}
    assert not inline, f"systemd would keep these comments in the values: {inline}"


def test_env_example_values_are_accepted_by_chatapp_and_gunicorn_conf(tmp_path, monkeypatch):
    example = systemd_environment_file((ROOT / ".env.example").read_text(), uncomment=True)
    assert example["SECRET_KEY"] == ""  # ships no key that copies of it would share
    assert example["DB_POOL_RECYCLE"] == "240" and example["DB_PING_IDLE_SECONDS"] == "5"
    env = {name: value for name, value in example.items() if name not in OTHER_VARIABLES | PATH_VARIABLES}
    env["SECRET_KEY"] = secrets.token_urlsafe(32)

    settings = load_settings(str(tmp_path), env)

    values = settings.values
    assert values["DB_POOL"].recycle == 240 and values["DB_POOL"].ping_idle_seconds == 5.0
    assert values["MAX_CONTENT_LENGTH"] == 10551296
    assert values["PROXY_FIX"] == {"x_for": 1, "x_proto": 1, "x_host": 1, "x_port": 0, "x_prefix": 0}
    assert values["ASSISTANT"].model == "llama3.2" and values["ASSISTANT"].temperature == 0.7
    assert values["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert values["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg2://user:password@ep-example-123456-pooler")

    monkeypatch.chdir(tmp_path)  # no .env here
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert conf["bind"] == "127.0.0.1:8000" and (conf["workers"], conf["threads"]) == (2, 4)
    assert conf["accesslog"] == "-" and conf["preload_app"] is False
    assert conf["control_socket_disable"] is True  # GUNICORN_CONTROL_SOCKET= (blank) is off


def test_env_example_and_the_docs_name_every_variable():
    example = set(systemd_environment_file((ROOT / ".env.example").read_text(), uncomment=True))
    known = variables(*SETTINGS_CLASSES) | PATH_VARIABLES | OTHER_VARIABLES
    assert example - known == set(), "variables in .env.example that nothing reads"
    assert variables(*SETTINGS_CLASSES) - example == set(), "variables missing from .env.example"

    readme = (ROOT / "README.md").read_text()
    deploy = (ROOT / "docs" / "DEPLOY.md").read_text()
    in_tables = lambda text: set(re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(line for line in text.splitlines() if line.startswith("|"))))  # noqa: E731
    chatapps = variables(AppSettings, PoolSettings, ReplicaSettings, ProxySettings, AssistantSettings) | PATH_VARIABLES
    assert chatapps - in_tables(readme) == set(), "variables missing from the README's configuration table"
    assert variables(GunicornSettings) - {"LOG_LEVEL"} - in_tables(deploy) == set(), "gunicorn variables missing from docs/DEPLOY.md"

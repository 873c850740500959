"""The typed environment: every variable chatapp and gunicorn.conf.py read, with its type, default and range.

Each class reads os.environ (pydantic-settings); keyword overrides win over it. A blank value
means unset. A bad value raises ConfigError with one line naming the variable, such as
`DB_POOL_RECYCLE must be an integer, got "abc"`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self

import annotated_types
from dotenv import load_dotenv
from limits import parse_many
from limits.storage import SCHEMES as LIMITS_STORAGE_SCHEMES
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .paths import ENV_FILE_VARIABLE, env_file


class ConfigError(ValueError):
    """A configuration value that chatapp refuses to start with."""


def load_env_file() -> Path | None:
    """Load the .env file (paths.env_file) into os.environ; variables already set win over it."""
    path = env_file()
    if not path.is_file():
        if os.environ.get(ENV_FILE_VARIABLE, "").strip():
            raise ConfigError(f"{ENV_FILE_VARIABLE} names {path}, which is not a readable file")
        return None
    try:
        load_dotenv(path, override=False)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return path


class EnvironmentSettings(BaseSettings):
    """Settings read from the environment variables named by each field's alias."""

    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", frozen=True, env_ignore_empty=True, str_strip_whitespace=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # .env is loaded into os.environ by the entry points (load_env_file), so that gunicorn,
        # flask and chatapp all see the same values.
        return init_settings, env_settings

    @model_validator(mode="before")
    @classmethod
    def _blank_means_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if not (isinstance(value, str) and not value.strip())}
        return data

    @classmethod
    def from_env(cls, overrides: dict[str, Any] | None = None) -> Self:
        """The settings from os.environ, with `overrides` (by variable name) winning over it."""
        try:
            return cls(**(overrides or {}))
        except ValidationError as exc:
            raise ConfigError("; ".join(_describe(cls, error) for error in exc.errors())) from None


def _describe(cls: type[BaseSettings], error: Any) -> str:
    """One validation error as `NAME must be ..., got "value"`."""
    loc = error.get("loc") or ()
    kind, ctx = error["type"], error.get("ctx") or {}
    if not loc:  # a check across variables: its message says it all
        return str(ctx.get("error", error["msg"]))
    name = str(loc[0])
    got = f', got "{error.get("input")}"'
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{name} must be an integer{got}"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return f"{name} must be a number{got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"{name} must be true or false{got}"
    if kind == "literal_error":
        return f"{name} must be one of {ctx.get('expected')}{got}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{name} must be {_bounds(cls, name)}{got}"
    if kind == "value_error":
        return f"{name} {ctx.get('error')}{got}"
    return f"{name}: {error['msg']}{got}"


def _bounds(cls: type[BaseSettings], name: str) -> str:
    """A field's range in words: ">= 1", "between 0 and 2"."""
    field = next(f for f in cls.model_fields.values() if f.validation_alias == name)
    low = high = None
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.Ge):
            low = f">= {constraint.ge}"
        elif isinstance(constraint, annotated_types.Gt):
            low = f"> {constraint.gt}"
        elif isinstance(constraint, annotated_types.Le):
            high = f"<= {constraint.le}"
        elif isinstance(constraint, annotated_types.Lt):
            high = f"< {constraint.lt}"
    if low and high and low.startswith(">=") and high.startswith("<="):
        return f"between {low[3:]} and {high[3:]}"
    return " and ".join(bound for bound in (low, high) if bound)


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class LoggingSettings(EnvironmentSettings):
    """LOG_LEVEL, shared by chatapp's logs and gunicorn's."""

    log_level: LogLevel = Field("INFO", validation_alias="LOG_LEVEL")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class AppSettings(LoggingSettings):
    """chatapp's own variables; the database pool, assistant and proxies have classes of their own."""

    database_url: str = Field("", validation_alias="DATABASE_URL", repr=False)
    secret_key: str = Field("", validation_alias="SECRET_KEY", repr=False)
    # development: `make run`; it may run on a generated SECRET_KEY (config.secret_key_for).
    environment: Literal["production", "development"] = Field("production", validation_alias="CHATAPP_ENV")
    max_message_chars: int = Field(32_000, ge=1, validation_alias="MAX_MESSAGE_CHARS")
    max_attachment_bytes: int = Field(10 * 1024 * 1024, ge=0, validation_alias="MAX_ATTACHMENT_BYTES")
    # Unset: an attachment plus multipart overhead.
    max_content_length: int | None = Field(None, ge=1, validation_alias="MAX_CONTENT_LENGTH")
    # POST /api/v1/threads/import: a thread document may be larger than any other request.
    max_import_bytes: int = Field(32 * 1024 * 1024, ge=1, validation_alias="MAX_IMPORT_BYTES")
    # How long the API trusts a token -> user lookup; bounds how late a revocation bites.
    api_token_cache_seconds: float = Field(10.0, ge=0, validation_alias="API_TOKEN_CACHE_SECONDS")
    # How long each process trusts a session it checked; bounds how late a log-out bites elsewhere.
    session_cache_seconds: float = Field(2.0, ge=0, validation_alias="SESSION_CACHE_SECONDS")
    ratelimit_storage_uri: str = Field("memory://", validation_alias="RATELIMIT_STORAGE_URI")
    login_limit_per_account_address: str = Field(
        "5 per minute;20 per hour", validation_alias="LOGIN_LIMIT_PER_ACCOUNT_ADDRESS"
    )
    login_limit_per_address: str = Field("20 per minute;100 per hour", validation_alias="LOGIN_LIMIT_PER_ADDRESS")
    login_limit_per_account: str = Field("20 per minute;100 per hour", validation_alias="LOGIN_LIMIT_PER_ACCOUNT")
    register_limit_per_address: str = Field("5 per minute;20 per hour", validation_alias="REGISTER_LIMIT_PER_ADDRESS")
    # Strict-Transport-Security max-age on https requests; 0 sends none.
    hsts_seconds: int = Field(31_536_000, ge=0, validation_alias="HSTS_SECONDS")

    @field_validator(
        "login_limit_per_account_address",
        "login_limit_per_address",
        "login_limit_per_account",
        "register_limit_per_address",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError("must be a rate limit such as '5 per minute;20 per hour'") from None
        return value

    @field_validator("ratelimit_storage_uri")
    @classmethod
    def _storage_uri(cls, value: str) -> str:
        scheme, separator, _ = value.partition("://")
        if not separator or scheme not in LIMITS_STORAGE_SCHEMES or scheme.startswith("async+"):
            raise ValueError("must be a storage URI such as memory:// or redis://host:6379/0")
        return value

    @field_validator("environment", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def request_body_limit(self) -> int:
        return self.max_content_length or self.max_attachment_bytes + 64 * 1024


class PoolSettings(EnvironmentSettings):
    """Engine pool settings for PostgreSQL; the defaults fit Neon's 5-minute idle window."""

    size: int = Field(5, ge=1, validation_alias="DB_POOL_SIZE")
    max_overflow: int = Field(10, ge=0, validation_alias="DB_MAX_OVERFLOW")
    timeout: int = Field(30, ge=1, validation_alias="DB_POOL_TIMEOUT")
    recycle: int = Field(240, validation_alias="DB_POOL_RECYCLE")
    connect_timeout: int = Field(10, ge=1, validation_alias="DB_CONNECT_TIMEOUT")
    # A connection idle this long is pinged on checkout; 0 pings on every checkout.
    ping_idle_seconds: float = Field(5.0, ge=0, validation_alias="DB_PING_IDLE_SECONDS")


class ReplicaSettings(EnvironmentSettings):
    """Read replicas of the PostgreSQL database (streaming replicas, Neon read replicas); none by default."""

    # Comma-separated URLs, each normalized like DATABASE_URL (chatapp.config.replica_urls).
    urls: str = Field("", validation_alias="DATABASE_REPLICA_URLS", repr=False)
    pool_size: int = Field(5, ge=1, validation_alias="DB_REPLICA_POOL_SIZE")
    # How long a read after the user's own write may wait for a replica to replay it (0: go to
    # the primary at once).
    wait_ms: int = Field(50, ge=0, le=10_000, validation_alias="DB_REPLICA_WAIT_MS")
    max_lag_seconds: float = Field(5.0, gt=0, validation_alias="DB_REPLICA_MAX_LAG_SECONDS")


class ProxySettings(EnvironmentSettings):
    """How many reverse proxies in front set each X-Forwarded-* header (0: the header is ignored)."""

    x_for: int = Field(0, ge=0, validation_alias="PROXY_FIX_X_FOR")
    x_proto: int = Field(0, ge=0, validation_alias="PROXY_FIX_X_PROTO")
    x_host: int = Field(0, ge=0, validation_alias="PROXY_FIX_X_HOST")
    x_port: int = Field(0, ge=0, validation_alias="PROXY_FIX_X_PORT")
    x_prefix: int = Field(0, ge=0, validation_alias="PROXY_FIX_X_PREFIX")


DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer concisely."


class AssistantSettings(EnvironmentSettings):
    """The assistant backend: the offline demo responder unless `base_url` is set."""

    base_url: str | None = Field(None, validation_alias="ASSISTANT_BASE_URL")
    api_key: str | None = Field(None, validation_alias="ASSISTANT_API_KEY", repr=False)  # never logged
    model: str | None = Field(None, validation_alias="ASSISTANT_MODEL")
    system_prompt: str = Field(DEFAULT_SYSTEM_PROMPT, validation_alias="ASSISTANT_SYSTEM_PROMPT")
    temperature: float | None = Field(None, ge=0, le=2, validation_alias="ASSISTANT_TEMPERATURE")
    # Seconds to connect, and to wait for each part of the stream.
    timeout: float = Field(60.0, gt=0, validation_alias="ASSISTANT_TIMEOUT")
    history_messages: int = Field(20, ge=1, le=1000, validation_alias="ASSISTANT_HISTORY_MESSAGES")
    history_chars: int = Field(24_000, ge=1, validation_alias="ASSISTANT_HISTORY_CHARS")
    # The model accepts images: attached images go to it as image parts (else as a note).
    vision: bool = Field(False, validation_alias="ASSISTANT_VISION")

    @model_validator(mode="after")
    def _model_named(self) -> Self:
        if self.base_url and not self.model:
            raise ValueError(
                "ASSISTANT_BASE_URL is set but ASSISTANT_MODEL is not: name the model to ask "
                "(e.g. gpt-4o-mini, llama3.2, Qwen/Qwen2.5-7B-Instruct)"
            )
        return self

    @property
    def offline(self) -> bool:
        return self.base_url is None

    def describe(self) -> str:
        if self.offline:
            return "Assistant: the offline demo responder (set ASSISTANT_BASE_URL to connect a model)"
        return f"Assistant: {self.model} at {self.base_url}"


def _default_workers() -> int:
    # One worker per core, at least two, so one busy or restarting worker never leaves the
    # instance unserved.
    return max(2, os.cpu_count() or 1)


class GunicornSettings(LoggingSettings):
    """What gunicorn.conf.py reads; see docs/DEPLOY.md."""

    bind: str | None = Field(None, validation_alias="GUNICORN_BIND")
    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int = Field(8000, ge=1, le=65535, validation_alias="PORT")
    workers: int = Field(default_factory=_default_workers, ge=1, validation_alias="WEB_CONCURRENCY")
    threads: int = Field(4, ge=1, validation_alias="GUNICORN_THREADS")
    preload: bool = Field(False, validation_alias="GUNICORN_PRELOAD")
    timeout: int = Field(60, ge=0, validation_alias="GUNICORN_TIMEOUT")
    graceful_timeout: int = Field(30, ge=0, validation_alias="GUNICORN_GRACEFUL_TIMEOUT")
    keepalive: int = Field(75, ge=0, validation_alias="GUNICORN_KEEPALIVE")
    max_requests: int = Field(0, ge=0, validation_alias="GUNICORN_MAX_REQUESTS")
    max_requests_jitter: int = Field(0, ge=0, validation_alias="GUNICORN_MAX_REQUESTS_JITTER")
    access_log: str | None = Field(None, validation_alias="GUNICORN_ACCESS_LOG")
    control_socket: str | None = Field(None, validation_alias="GUNICORN_CONTROL_SOCKET")
    forwarded_allow_ips: str = Field("127.0.0.1,::1", validation_alias="FORWARDED_ALLOW_IPS")

    @property
    def address(self) -> str:
        return self.bind or f"{self.host}:{self.port}"

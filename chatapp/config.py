"""Configuration from the environment: database URLs, engine options, limits and secrets."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode

from sqlalchemy.engine import URL, make_url

log = logging.getLogger("chatapp")

NEON_HOST_SUFFIX = ".neon.tech"


class ConfigError(ValueError):
    """A configuration value that chatapp refuses to start with."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> str:
    from limits import parse_many

    raw = env.get(name, "").strip() or default
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a rate limit such as '5 per minute;20 per hour', got {raw!r}") from None
    return raw


def is_neon_host(host: str | None) -> bool:
    return bool(host) and (host.endswith(NEON_HOST_SUFFIX) or host == NEON_HOST_SUFFIX[1:])


def normalize_database_url(raw: str) -> tuple[str, list[str]]:
    """Return the SQLAlchemy URL for `raw` and the warnings to log about it.

    postgres:// and postgresql(+asyncpg):// become postgresql+psycopg2://; Neon hosts get
    sslmode=require unless an sslmode is given, and sslmode=disable toward Neon is refused.
    Every other query parameter (channel_binding, options=endpoint%3D...) passes through.
    """
    warnings: list[str] = []
    raw = raw.strip()
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://"):]
    try:
        url = make_url(raw)
    except Exception:
        raise ConfigError("DATABASE_URL is not a valid database URL") from None

    backend, _, driver = url.drivername.partition("+")
    if backend == "postgresql":
        if driver and driver != "psycopg2":
            warnings.append(
                f"DATABASE_URL uses the async driver '{driver}'; chatapp is synchronous and "
                "uses psycopg2 instead"
            )
        url = url.set(drivername="postgresql+psycopg2")
        query = dict(url.query)
        if driver == "asyncpg" and "ssl" in query:
            # asyncpg spells it ssl=require; libpq spells it sslmode=require.
            query.setdefault("sslmode", query.pop("ssl"))
        if is_neon_host(url.host):
            sslmode = query.get("sslmode")
            if sslmode is None:
                query["sslmode"] = "require"
            elif sslmode in ("disable", "allow", "prefer"):
                raise ConfigError(
                    f"DATABASE_URL sets sslmode={sslmode} for the Neon host {url.host}; Neon "
                    "requires SSL. Use sslmode=require (or verify-full), or remove sslmode."
                )
        url = url.set(query=query)
    elif backend != "sqlite":
        raise ConfigError(
            f"DATABASE_URL has the scheme '{url.drivername}'; chatapp supports postgresql:// "
            "(PostgreSQL, Neon) and sqlite://"
        )
    return url.render_as_string(hide_password=False), warnings


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for logs and `flask chat doctor`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


@dataclass(frozen=True)
class PoolSettings:
    """Engine pool settings for PostgreSQL; defaults fit Neon's 5-minute idle window."""

    size: int = 5
    max_overflow: int = 10
    timeout: int = 30
    recycle: int = 240
    connect_timeout: int = 10
    ping_idle_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "PoolSettings":
        settings = cls(
            size=_int(env, "DB_POOL_SIZE", cls.size),
            max_overflow=_int(env, "DB_MAX_OVERFLOW", cls.max_overflow),
            timeout=_int(env, "DB_POOL_TIMEOUT", cls.timeout),
            recycle=_int(env, "DB_POOL_RECYCLE", cls.recycle),
            connect_timeout=_int(env, "DB_CONNECT_TIMEOUT", cls.connect_timeout),
            ping_idle_seconds=_float(env, "DB_PING_IDLE_SECONDS", cls.ping_idle_seconds),
        )
        if settings.size < 1 or settings.max_overflow < 0 or settings.timeout < 1:
            raise ConfigError("DB_POOL_SIZE must be >= 1, DB_MAX_OVERFLOW >= 0, DB_POOL_TIMEOUT >= 1")
        if settings.connect_timeout < 1:
            raise ConfigError("DB_CONNECT_TIMEOUT must be >= 1 second")
        if settings.ping_idle_seconds < 0:
            raise ConfigError("DB_PING_IDLE_SECONDS must be >= 0 (0 pings on every checkout)")
        return settings


def engine_options_for(url: str, pool: PoolSettings = PoolSettings()) -> dict[str, Any]:
    """SQLAlchemy engine options for `url`.

    PostgreSQL: a LIFO QueuePool with a recycle below Neon's idle cut-off, a connect timeout,
    TCP keepalives and application_name; never libpq `options`, which Neon's pooler rejects.
    Liveness is not SQLAlchemy's pre-ping (a round trip on every checkout) but a ping of
    connections idle for DB_PING_IDLE_SECONDS only (chatapp.reconnect.install_idle_ping). SQLite: a busy timeout (the pragmas are set on connect, see chatapp.extensions).
    """
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": 15}}
    connect_args: dict[str, Any] = {
        "connect_timeout": pool.connect_timeout,
        "application_name": "chatapp",
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if _libpq_version() >= 120000:
        # Bound how long unacknowledged writes may hang on a half-open connection.
        connect_args["tcp_user_timeout"] = 30_000
    query = make_url(url).query
    for key in list(connect_args):
        if key in query:  # the URL wins over our defaults
            connect_args.pop(key)
    return {
        "pool_pre_ping": False,
        "pool_size": pool.size,
        "max_overflow": pool.max_overflow,
        "pool_timeout": pool.timeout,
        "pool_recycle": pool.recycle,
        "pool_use_lifo": True,
        "connect_args": connect_args,
    }


def _libpq_version() -> int:
    try:
        import psycopg2.extensions

        return psycopg2.extensions.libpq_version()
    except Exception:  # psycopg2 missing: no tcp_user_timeout, the URL check reports the rest
        return 0


PROXY_HEADERS = ("for", "proto", "host", "port", "prefix")


def proxy_hops(env: Mapping[str, str]) -> dict[str, int]:
    """ProxyFix hop counts from PROXY_FIX_X_FOR, _X_PROTO, _X_HOST, _X_PORT, _X_PREFIX (0 = untrusted).

    Each count is how many proxies in front of chatapp set that X-Forwarded-* header; all zero
    (the default) leaves the headers ignored, as a directly exposed server must.
    """
    hops = {f"x_{name}": _int(env, f"PROXY_FIX_X_{name.upper()}", 0) for name in PROXY_HEADERS}
    if any(count < 0 for count in hops.values()):
        raise ConfigError("PROXY_FIX_X_* hop counts must be >= 0")
    return hops


DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer concisely."


@dataclass(frozen=True)
class AssistantSettings:
    """The assistant backend: the offline demo responder unless `base_url` is set."""

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never logged
    model: str | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float | None = None
    timeout: float = 60.0  # seconds to connect, and to wait for each part of the stream
    history_messages: int = 20
    history_chars: int = 24_000

    @property
    def offline(self) -> bool:
        return self.base_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "AssistantSettings":
        base_url = env.get("ASSISTANT_BASE_URL", "").strip() or None
        model = env.get("ASSISTANT_MODEL", "").strip() or None
        if base_url and not model:
            raise ConfigError(
                "ASSISTANT_BASE_URL is set but ASSISTANT_MODEL is not: name the model to ask "
                "(e.g. gpt-4o-mini, llama3.2, Qwen/Qwen2.5-7B-Instruct)"
            )
        raw_temperature = env.get("ASSISTANT_TEMPERATURE", "").strip()
        settings = cls(
            base_url=base_url,
            api_key=env.get("ASSISTANT_API_KEY", "").strip() or None,
            model=model,
            system_prompt=env.get("ASSISTANT_SYSTEM_PROMPT", "").strip() or DEFAULT_SYSTEM_PROMPT,
            temperature=_float(env, "ASSISTANT_TEMPERATURE", 0.0) if raw_temperature else None,
            timeout=_float(env, "ASSISTANT_TIMEOUT", cls.timeout),
            history_messages=_int(env, "ASSISTANT_HISTORY_MESSAGES", cls.history_messages),
            history_chars=_int(env, "ASSISTANT_HISTORY_CHARS", cls.history_chars),
        )
        if settings.temperature is not None and not 0 <= settings.temperature <= 2:
            raise ConfigError("ASSISTANT_TEMPERATURE must be between 0 and 2")
        if settings.timeout <= 0:
            raise ConfigError("ASSISTANT_TIMEOUT must be > 0 seconds")
        if not 1 <= settings.history_messages <= 1000 or settings.history_chars < 1:
            raise ConfigError(
                "ASSISTANT_HISTORY_MESSAGES must be 1-1000 and ASSISTANT_HISTORY_CHARS >= 1"
            )
        return settings

    def describe(self) -> str:
        if self.offline:
            return "Assistant: the offline demo responder (set ASSISTANT_BASE_URL to connect a model)"
        return f"Assistant: {self.model} at {self.base_url}"


def _secret_key(instance_path: Path) -> tuple[str, bool]:
    """Read or create instance/secret_key; True when it was generated just now."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip(), False
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key, True


@dataclass
class Settings:
    """Everything chatapp reads from the environment, as Flask config keys."""

    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)


def load_settings(instance_path: str, env: Mapping[str, str] | None = None) -> Settings:
    """Build the app configuration from `env` (os.environ by default)."""
    env = os.environ if env is None else env
    settings = Settings()
    cfg = settings.values
    instance = Path(instance_path)

    raw_url = env.get("DATABASE_URL", "").strip()
    if raw_url:
        url, url_warnings = normalize_database_url(raw_url)
        settings.warnings.extend(url_warnings)
    else:
        db_file = instance / "chatapp.db"
        instance.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{db_file}"
        settings.warnings.append(
            f"DATABASE_URL is not set: using the embedded SQLite database at {db_file}. "
            "Data stays on this machine only. Set DATABASE_URL (e.g. in .env) to a "
            "postgresql:// URL to use PostgreSQL or Neon."
        )
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    pool = PoolSettings.from_env(env)
    cfg["DB_POOL"] = pool
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options_for(url, pool)

    secret = env.get("SECRET_KEY", "").strip()
    if not secret:
        secret, generated = _secret_key(instance)
        settings.warnings.append(
            ("Generated a new SECRET_KEY" if generated else "Using the SECRET_KEY kept")
            + f" in {instance / 'secret_key'}; set SECRET_KEY in production."
        )
    cfg["SECRET_KEY"] = secret

    cfg["MAX_MESSAGE_CHARS"] = _int(env, "MAX_MESSAGE_CHARS", 32_000)
    cfg["MAX_ATTACHMENT_BYTES"] = _int(env, "MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
    # Request bodies: an attachment plus multipart overhead.
    cfg["MAX_CONTENT_LENGTH"] = _int(
        env, "MAX_CONTENT_LENGTH", cfg["MAX_ATTACHMENT_BYTES"] + 64 * 1024
    )
    # POST /api/v1/threads/import: a thread document may be larger than any other request.
    cfg["MAX_IMPORT_BYTES"] = _int(env, "MAX_IMPORT_BYTES", 32 * 1024 * 1024)
    # How long the API trusts a token -> user lookup it made; bounds how late a revocation bites.
    cfg["API_TOKEN_CACHE_SECONDS"] = _float(env, "API_TOKEN_CACHE_SECONDS", 10.0)
    if cfg["API_TOKEN_CACHE_SECONDS"] < 0:
        raise ConfigError("API_TOKEN_CACHE_SECONDS must be >= 0 (0 turns the cache off)")
    cfg["LOG_LEVEL"] = env.get("LOG_LEVEL", "INFO").upper()
    # Browser sessions: HttpOnly (Flask's default) and SameSite=Lax; Secure follows each
    # request's scheme (chatapp.proxy). A CSRF token lives as long as its session.
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["WTF_CSRF_TIME_LIMIT"] = None
    # Failed-login throttling (Flask-Limiter). memory:// counts per process; a redis:// URL
    # shares the counts between gunicorn workers and instances.
    cfg["RATELIMIT_ENABLED"] = True
    cfg["RATELIMIT_STORAGE_URI"] = env.get("RATELIMIT_STORAGE_URI", "").strip() or "memory://"
    cfg["LOGIN_LIMIT_PER_ACCOUNT"] = _rate_limit(env, "LOGIN_LIMIT_PER_ACCOUNT", "5 per minute;20 per hour")
    cfg["LOGIN_LIMIT_PER_ADDRESS"] = _rate_limit(env, "LOGIN_LIMIT_PER_ADDRESS", "20 per minute;100 per hour")
    cfg["ASSISTANT"] = AssistantSettings.from_env(env)
    settings.infos.append(cfg["ASSISTANT"].describe())
    cfg["PROXY_FIX"] = proxy_hops(env)
    settings.infos.append(f"Database: {mask_url(url)}")
    return settings

"""chatapp's own configuration: database URLs, engine options and the SECRET_KEY rules, as Flask config.

Database URLs: normalization, Neon's SSL, the SQLite fallback. The typed environment variables
themselves are defined once, in chatapp.settings.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask.helpers import get_debug_flag
from sqlalchemy.engine import make_url

from .paths import INSTANCE_PATH_VARIABLE
from .settings import AppSettings, AssistantSettings, ConfigError, PoolSettings, ProxySettings, ReplicaSettings

NEON_HOST_SUFFIX = ".neon.tech"


def is_neon_host(host: str | None) -> bool:
    return bool(host) and (host.endswith(NEON_HOST_SUFFIX) or host == NEON_HOST_SUFFIX[1:])


def normalize_database_url(raw: str, variable: str = "DATABASE_URL") -> tuple[str, list[str]]:
    """Return the SQLAlchemy URL for `raw` (the value of `variable`) and the warnings to log about it.

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
        raise ConfigError(f"{variable} is not a valid database URL") from None

    backend, _, driver = url.drivername.partition("+")
    if backend == "postgresql":
        if driver and driver != "psycopg2":
            warnings.append(
                f"{variable} uses the async driver '{driver}'; chatapp is synchronous and "
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
                    f"{variable} sets sslmode={sslmode} for the Neon host {url.host}; Neon "
                    "requires SSL. Use sslmode=require (or verify-full), or remove sslmode."
                )
        url = url.set(query=query)
    elif backend != "sqlite":
        raise ConfigError(
            f"{variable} has the scheme '{url.drivername}'; chatapp supports postgresql:// "
            "(PostgreSQL, Neon) and sqlite://"
        )
    return url.render_as_string(hide_password=False), warnings


def replica_urls(raw: str, primary_url: str) -> tuple[list[str], list[str]]:
    """The read replicas' SQLAlchemy URLs from DATABASE_REPLICA_URLS (comma-separated), each
    normalized like DATABASE_URL, and the warnings to log about them.

    Replicas need a PostgreSQL primary and must be PostgreSQL themselves; the primary's own URL
    is refused (its reads are not scaled out by reading it twice).
    """
    parts = [part.strip() for part in raw.split(",")]
    if not any(parts):
        return [], []
    if make_url(primary_url).get_backend_name() != "postgresql":
        raise ConfigError("DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL (the primary the replicas follow)")
    urls: list[str] = []
    warnings: list[str] = []
    for number, part in enumerate(parts, 1):
        if not part:
            raise ConfigError(f"DATABASE_REPLICA_URLS has an empty entry (number {number}); separate URLs with one comma")
        url, url_warnings = normalize_database_url(part, f"DATABASE_REPLICA_URLS entry {number}")
        if make_url(url).get_backend_name() != "postgresql":
            raise ConfigError(f"DATABASE_REPLICA_URLS entry {number} is not a postgresql:// URL: read replicas are PostgreSQL")
        if url == primary_url:
            raise ConfigError(f"DATABASE_REPLICA_URLS entry {number} is DATABASE_URL itself: name the read replicas' URLs")
        if url in urls:
            raise ConfigError(f"DATABASE_REPLICA_URLS names {mask_url(url)} twice")
        urls.append(url)
        warnings.extend(url_warnings)
    return urls, warnings


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for logs and `flask chat doctor`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def engine_options_for(url: str, pool: PoolSettings | None = None) -> dict[str, Any]:
    """SQLAlchemy engine options for `url`.

    PostgreSQL: a LIFO QueuePool with a recycle below Neon's idle cut-off, a connect timeout,
    TCP keepalives and application_name; never libpq `options`, which Neon's pooler rejects.
    Liveness is not SQLAlchemy's pre-ping (a round trip on every checkout) but a ping of
    connections idle for DB_PING_IDLE_SECONDS only (chatapp.reconnect.install_idle_ping).
    SQLite: a busy timeout (the pragmas are set on connect, see chatapp.extensions).
    `pool` defaults to the environment's PoolSettings.
    """
    if make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 15}}
    pool = pool or PoolSettings.from_env()
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


MIN_SECRET_KEY_CHARS = 32
# Values copied from examples and tutorials, compared in lower case without punctuation.
PLACEHOLDER_SECRET_KEYS = frozenset({
    "changeme", "changethis", "replaceme", "secret", "secretkey", "yoursecretkey", "mysecretkey",
    "supersecret", "notsecret", "dev", "development", "test", "testing", "password", "default",
    "insecure", "example", "todo", "fixme",
})
GENERATE_SECRET_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def secret_key_problem(key: str) -> str | None:
    """Why `key` cannot sign production sessions ("is not set", "is too short ..."), or None."""
    if not key:
        return "is not set"
    words = re.sub(r"[^a-z0-9]", "", key.lower())
    if words in PLACEHOLDER_SECRET_KEYS or "changeme" in words or "replaceme" in words:
        return f'is the placeholder "{key}"'
    if len(key) < MIN_SECRET_KEY_CHARS:
        return f"is too short ({len(key)} characters; at least {MIN_SECRET_KEY_CHARS})"
    if len(set(key)) < 8:
        return "is not random (fewer than 8 distinct characters)"
    return None


def _instance_error(path: Path, exc: OSError) -> ConfigError:
    reason = "it is not a directory" if isinstance(exc, (FileExistsError, NotADirectoryError)) else exc.strerror
    return ConfigError(
        f"cannot use the instance folder {path} ({reason}): make it a directory this user can write, "
        f"or set {INSTANCE_PATH_VARIABLE} to one"
    )


def _instance_secret_key(instance_path: Path) -> tuple[str, bool]:
    """Read or create instance/secret_key; True when it was generated just now."""
    key_file = instance_path / "secret_key"
    try:
        if key_file.exists():
            return key_file.read_text().strip(), False
        instance_path.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
    except OSError as exc:
        raise _instance_error(instance_path, exc) from None
    return key, True


@dataclass
class Settings:
    """Everything chatapp reads from the environment, as Flask config keys, and what to log about it."""

    values: dict[str, Any] = field(default_factory=dict)
    database: str = ""  # the "Database: ..." line, password masked
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)


def load_settings(instance_path: str, overrides: Mapping[str, Any] | None = None, *, testing: bool = False) -> Settings:
    """Build the app configuration from os.environ, with `overrides` (by variable name) winning.

    Outside development (CHATAPP_ENV=development, FLASK_DEBUG, or `testing`) a real SECRET_KEY
    is required; in development a missing one is generated once into instance/secret_key.
    """
    overrides = dict(overrides or {})
    app_settings = AppSettings.from_env(overrides)
    pool = PoolSettings.from_env(overrides)
    assistant = AssistantSettings.from_env(overrides)
    proxy = ProxySettings.from_env(overrides)
    development = app_settings.environment == "development" or get_debug_flag() or testing
    problem = secret_key_problem(app_settings.secret_key)
    if problem and not development:
        raise ConfigError(
            f"SECRET_KEY {problem}: generate one with {GENERATE_SECRET_KEY} and set it in the "
            "environment or .env (the same on every instance), or set CHATAPP_ENV=development "
            "on a development machine"
        )
    settings = Settings()
    cfg = settings.values
    instance = Path(instance_path)

    if app_settings.database_url:
        url, url_warnings = normalize_database_url(app_settings.database_url)
        settings.warnings.extend(url_warnings)
    else:
        db_file = instance / "chatapp.db"
        try:
            instance.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _instance_error(instance, exc) from None
        url = f"sqlite:///{db_file}"
        settings.warnings.append(
            f"DATABASE_URL is not set: using the embedded SQLite database at {db_file}. "
            "Data stays on this machine only. Set DATABASE_URL (e.g. in .env) to a "
            "postgresql:// URL to use PostgreSQL or Neon."
        )
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    cfg["DB_POOL"] = pool
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options_for(url, pool)
    replicas = ReplicaSettings.from_env(overrides)
    cfg["DB_REPLICAS"] = replicas
    cfg["DB_REPLICA_URIS"], replica_warnings = replica_urls(replicas.urls, url)
    settings.warnings.extend(replica_warnings)

    cfg["SECRET_KEY"] = app_settings.secret_key
    if not app_settings.secret_key:
        cfg["SECRET_KEY"], generated = _instance_secret_key(instance)
        settings.warnings.append(
            ("Generated a new SECRET_KEY" if generated else "Using the SECRET_KEY kept")
            + f" in {instance / 'secret_key'}: fine for development; production needs SECRET_KEY set."
        )
    elif problem and not testing:
        settings.warnings.append(f"SECRET_KEY {problem}: accepted in development only.")

    cfg["MAX_MESSAGE_CHARS"] = app_settings.max_message_chars
    cfg["MAX_ATTACHMENT_BYTES"] = app_settings.max_attachment_bytes
    cfg["MAX_CONTENT_LENGTH"] = app_settings.request_body_limit
    cfg["MAX_IMPORT_BYTES"] = app_settings.max_import_bytes
    cfg["API_TOKEN_CACHE_SECONDS"] = app_settings.api_token_cache_seconds
    cfg["LOG_LEVEL"] = app_settings.log_level
    # Browser sessions: HttpOnly (Flask's default) and SameSite=Lax; Secure follows each
    # request's scheme (chatapp.proxy). A CSRF token lives as long as its session.
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["WTF_CSRF_TIME_LIMIT"] = None
    # Failed-login throttling (Flask-Limiter). memory:// counts per process; a redis:// URL
    # shares the counts between gunicorn workers and instances.
    cfg["RATELIMIT_ENABLED"] = True
    cfg["RATELIMIT_STORAGE_URI"] = app_settings.ratelimit_storage_uri
    cfg["LOGIN_LIMIT_PER_ACCOUNT_ADDRESS"] = app_settings.login_limit_per_account_address
    cfg["LOGIN_LIMIT_PER_ADDRESS"] = app_settings.login_limit_per_address
    cfg["LOGIN_LIMIT_PER_ACCOUNT"] = app_settings.login_limit_per_account
    cfg["REGISTER_LIMIT_PER_ADDRESS"] = app_settings.register_limit_per_address
    cfg["SESSION_CACHE_SECONDS"] = app_settings.session_cache_seconds
    cfg["HSTS_SECONDS"] = app_settings.hsts_seconds
    cfg["ASSISTANT"] = assistant
    cfg["PROXY_FIX"] = proxy.model_dump()
    settings.database = f"Database: {mask_url(url)}"
    if cfg["DB_REPLICA_URIS"]:
        settings.database += "; read replicas: " + ", ".join(mask_url(replica) for replica in cfg["DB_REPLICA_URIS"])
    settings.infos.append(assistant.describe())
    return settings

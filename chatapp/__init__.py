"""chatapp: chat threads and their items, persisted in PostgreSQL (or SQLite), served by Flask."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Optional

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("chatapp")


def create_app(config: Optional[Mapping[str, Any]] = None) -> Flask:
    """Build the app: settings from the environment, then `config` overrides, then extensions.

    `config` may carry DATABASE_URL and the other environment variables (they win over the
    environment), `instance_path`, and any Flask config key. Nothing here touches the
    database: migrations run with `flask db upgrade`, never at startup.
    """
    config = dict(config or {})
    instance_path = config.pop("instance_path", None) or os.environ.get("CHATAPP_INSTANCE_PATH") or str(PROJECT_ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    configure_app(app, config)
    configure_logging(app)
    configure_proxy(app)
    configure_extensions(app)
    configure_blueprints(app)
    configure_errorhandlers(app)
    configure_cli(app)
    return app


def configure_app(app: Flask, overrides: dict[str, Any]) -> None:
    from .config import load_settings

    env = {**os.environ, **{k: str(v) for k, v in overrides.items() if k.isupper() and isinstance(v, (str, int, float))}}
    settings = load_settings(app.instance_path, env)
    app.config.update(settings.values)
    app.config.update(overrides)
    app.config.setdefault("JSON_SORT_KEYS", False)
    app.extensions["chatapp.startup"] = settings


def configure_logging(app: Flask) -> None:
    """Log chatapp's messages to stderr, tagged with the request id, one line per request, and
    say, loudly, which database is in use."""
    from .requestlog import RequestIdFilter, configure_request_log

    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(name)s] [%(request_id)s] %(message)s")
        )
        handler.addFilter(RequestIdFilter())
        log.addHandler(handler)
    log.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    configure_request_log(app)
    settings = app.extensions.pop("chatapp.startup")
    for message in settings.infos:
        log.info(message)
    for message in settings.warnings:
        log.warning(message)


def configure_proxy(app: Flask) -> None:
    from .proxy import configure_proxy as trust_configured_proxies

    trust_configured_proxies(app)


def configure_extensions(app: Flask) -> None:
    from . import models  # noqa: F401 - registers the tables on db.metadata
    from .extensions import configure_sqlite, csrf, db, limiter, migrate
    from .ui.security import configure_browser_security

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    # chatapp sets no default or application-wide limits: each throttled route is checked by its
    # own @limiter.limit decorator, so the limiter's before-request hook, about 50 µs on every
    # request, API included, checks nothing.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    configure_browser_security(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
        elif db.engine.dialect.name == "postgresql":
            from .reconnect import install_connect_retry, install_idle_ping
            from .store.transactions import install_autocommit_reset

            pool = app.config["DB_POOL"]
            install_connect_retry(db.engine, pool.connect_timeout)
            install_idle_ping(db.engine, pool.ping_idle_seconds)
            install_autocommit_reset(db.engine)


def configure_blueprints(app: Flask) -> None:
    from .api import bp as api_bp
    from .health import bp as health_bp
    from .ui import bp as ui_bp

    from .extensions import csrf

    app.register_blueprint(health_bp)
    csrf.exempt(api_bp)  # token-authenticated: no cookies, so no CSRF
    app.register_blueprint(api_bp)
    app.register_blueprint(ui_bp)


def configure_errorhandlers(app: Flask) -> None:
    from .errors import register_error_handlers

    register_error_handlers(app)


def configure_cli(app: Flask) -> None:
    from .cli import chat

    app.cli.add_command(chat)

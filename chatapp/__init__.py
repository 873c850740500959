"""chatapp: chat threads and their items, persisted in PostgreSQL (or SQLite), served by Flask."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import models  # noqa: F401 - registers the tables on db.metadata
from .api import bp as api_bp
from .cli import chat
from .config import Settings, load_settings
from .consistency import configure_consistency
from .errors import register_error_handlers
from .extensions import configure_sqlite, csrf, db, limiter, migrate
from .health import bp as health_bp
from .inputs import configure_input_checks
from .paths import MIGRATIONS_DIR, STATIC_DIR, TEMPLATES_DIR, instance_path
from .proxy import configure_proxy as trust_configured_proxies
from .reconnect import install_connect_retry, install_idle_ping
from .requestlog import RequestIdFilter, WerkzeugRequestLineFilter, configure_request_log
from .startup import serves_requests
from .store.transactions import install_autocommit_reset
from .ui import bp as ui_bp
from .ui.security import configure_browser_security

log = logging.getLogger("chatapp")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, then `config` overrides, then extensions.

    `config` may carry DATABASE_URL and the other environment variables (they win over the
    environment), `instance_path`, and any Flask config key. Nothing here touches the
    database: migrations run with `flask db upgrade`, never at startup.
    """
    config = dict(config or {})
    app = Flask(
        __name__,
        instance_path=str(config.pop("instance_path", None) or instance_path()),
        template_folder=str(TEMPLATES_DIR),
        static_folder=str(STATIC_DIR),
    )
    settings = configure_app(app, config)
    configure_logging(app, settings)
    configure_input_checks(app)
    configure_proxy(app)
    configure_extensions(app)
    configure_blueprints(app)
    configure_errorhandlers(app)
    configure_cli(app)
    return app


def configure_app(app: Flask, overrides: dict[str, Any]) -> Settings:
    """The environment's settings, then `overrides`; returns what there is to log about them."""
    settings = load_settings(app.instance_path, overrides, testing=bool(overrides.get("TESTING")))
    app.config.update(settings.values)
    app.config.update(overrides)
    return settings


def configure_logging(app: Flask, settings: Settings) -> None:
    """Log chatapp's messages to stderr, tagged with the request id, one line per request, and
    say, loudly, which database is in use.

    The startup warnings (SQLite fallback, generated SECRET_KEY) are for the process that serves;
    a `flask db upgrade` before it only names the database.
    """
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(name)s] [%(request_id)s] %(message)s")
        )
        handler.addFilter(RequestIdFilter())
        log.addHandler(handler)
    log.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    configure_request_log(app)
    # chatapp logs each request itself: the development server's own line would be a second one.
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, WerkzeugRequestLineFilter) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(WerkzeugRequestLineFilter())
    log.info(settings.database)
    if not serves_requests():
        return
    for message in settings.infos:
        log.info(message)
    for message in settings.warnings:
        log.warning(message)


def configure_proxy(app: Flask) -> None:
    trust_configured_proxies(app)


def configure_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
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
            pool = app.config["DB_POOL"]
            install_connect_retry(db.engine, pool.connect_timeout)
            install_idle_ping(db.engine, pool.ping_idle_seconds)
            install_autocommit_reset(db.engine)
        configure_consistency(app)


def configure_blueprints(app: Flask) -> None:
    app.register_blueprint(health_bp)
    csrf.exempt(api_bp)  # token-authenticated: no cookies, so no CSRF
    app.register_blueprint(api_bp)
    app.register_blueprint(ui_bp)


def configure_errorhandlers(app: Flask) -> None:
    register_error_handlers(app)


def configure_cli(app: Flask) -> None:
    app.cli.add_command(chat)

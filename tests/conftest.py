"""Shared fixtures: a fresh app per test module on SQLite and on real PostgreSQL.

Set TEST_DATABASE_URL to point at another PostgreSQL server (a throwaway database is created
there per module). When PostgreSQL is unreachable its tests skip, except under CI=true, where
every skip is turned into a failure.
"""

from __future__ import annotations

import os
import secrets
import socket
from contextlib import closing
from typing import Iterator

import psycopg2
import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from chatapp import create_app
from chatapp.store.accounts import AccountStore
from chatapp.extensions import db

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]
# Long and random-looking enough for production's SECRET_KEY rules (apps served by real gunicorn).
TEST_SECRET_KEY = "chatapp-tests-only-secret-key-0123456789"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skip is a failure: the PostgreSQL and browser tests must run there."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


_pg_reachable: dict[str, str | None] = {}


def postgres_unavailable_reason() -> str | None:
    if "reason" not in _pg_reachable:
        try:
            with closing(psycopg2.connect(PG_SERVER_URL, connect_timeout=3)):
                _pg_reachable["reason"] = None
        except psycopg2.Error as exc:
            _pg_reachable["reason"] = f"PostgreSQL at {PG_SERVER_URL} is unreachable: {str(exc).strip()}"
    return _pg_reachable["reason"]


def require_postgres() -> None:
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)


def admin_connection():
    conn = psycopg2.connect(PG_SERVER_URL, connect_timeout=5)
    conn.autocommit = True
    return conn


def create_pg_database(prefix: str = "chatapp_test") -> str:
    """A new empty database on the test server; returns its URL."""
    require_postgres()
    name = f"{prefix}_{secrets.token_hex(6)}"
    with closing(admin_connection()) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    with closing(admin_connection()) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_app(database_url: str, instance_path: str, **config) -> Flask:
    return create_app(
        {
            "DATABASE_URL": database_url,
            "instance_path": instance_path,
            "SECRET_KEY": TEST_SECRET_KEY,
            "TESTING": True,
            **config,
        }
    )


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, tmp_path_factory) -> Iterator[Flask]:
    """A migrated app per module and backend."""
    instance = tmp_path_factory.mktemp("instance")
    if request.param == "sqlite":
        url = f"sqlite:///{instance / 'chatapp.db'}"
    else:
        url = create_pg_database()
    application = make_app(url, str(instance), **getattr(request.module, "APP_CONFIG", {}))
    with application.app_context():
        upgrade()
    try:
        yield application
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        if request.param == "postgresql":
            drop_pg_database(url)


@pytest.fixture
def backend(app: Flask) -> str:
    with app.app_context():
        return db.engine.dialect.name


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def app_context(app: Flask):
    with app.app_context() as ctx:
        yield ctx
        db.session.remove()


def make_user(app: Flask, password: str = "correct horse battery") -> str:
    """A new user with a random email; returns the user id."""
    with app.app_context():
        user = AccountStore(db.session).create_user(f"u{secrets.token_hex(5)}@example.com", password)
        db.session.remove()
    return user.id


@pytest.fixture
def user_id(app: Flask) -> str:
    return make_user(app)


@pytest.fixture
def other_user_id(app: Flask) -> str:
    return make_user(app)


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

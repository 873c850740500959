"""Test databases and apps: a throwaway PostgreSQL database per module, an app bound to it.

Set TEST_DATABASE_URL to point at another PostgreSQL server (a throwaway database is created
there per module). When PostgreSQL is unreachable its tests skip, except under CI=true, where
every skip is turned into a failure (see fixtures.py).
"""

from __future__ import annotations

import os
import secrets
import socket
from contextlib import closing

import psycopg2
import pytest
from flask import Flask
from sqlalchemy.engine import make_url

from chatapp import create_app
from chatapp.extensions import db
from chatapp.store import AccountStore

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]
# Long and random-looking enough for production's SECRET_KEY rules (apps served by real gunicorn).
TEST_SECRET_KEY = "chatapp-tests-only-secret-key-0123456789"


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
            # Tests sign up many users from the test client's one address; the sign-up throttle
            # has tests of its own (test_registration.py), which set their limit.
            "REGISTER_LIMIT_PER_ADDRESS": "1000 per minute",
            **config,
        }
    )


def make_user(app: Flask, password: str = "correct horse battery") -> str:
    """A new user with a random email; returns the user id."""
    with app.app_context():
        user = AccountStore(db.session).create_user(f"u{secrets.token_hex(5)}@example.com", password)
        db.session.remove()
    return user.id


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

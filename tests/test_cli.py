"""The `flask chat` commands, and readiness on an empty or unreachable database."""

from __future__ import annotations

import time

from chatapp.extensions import db
from chatapp.store.accounts import AccountStore
from support.databases import make_app


def test_doctor_reports_a_healthy_database(runner, backend):
    result = runner.invoke(args=["chat", "doctor"])
    assert result.exit_code == 0, result.output
    assert "migrations: at head" in result.output
    assert "round trip:" in result.output
    expected = "PostgreSQL" if backend == "postgresql" else "SQLite"
    assert f"server:     {expected}" in result.output


def test_doctor_fails_clearly_on_unreachable_host(tmp_path):
    app = make_app("postgresql://postgres:pw@127.0.0.1:1/nowhere", str(tmp_path), DB_CONNECT_TIMEOUT="3")
    started = time.monotonic()
    result = app.test_cli_runner().invoke(args=["chat", "doctor"])
    assert result.exit_code == 1
    assert "cannot reach the database" in result.output
    assert "pw" not in result.output.replace("postgresql+psycopg2", "")
    assert time.monotonic() - started < 10


def test_doctor_and_readyz_on_an_unmigrated_database(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'empty.db'}", str(tmp_path))
    result = app.test_cli_runner().invoke(args=["chat", "doctor"])
    assert result.exit_code == 1 and "flask db upgrade" in result.output
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["error"]["code"] == "migrations_pending"


def test_stats_on_unmigrated_database_says_run_upgrade(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'empty.db'}", str(tmp_path))
    result = app.test_cli_runner().invoke(args=["chat", "stats"])
    assert result.exit_code == 1 and "flask db upgrade" in result.output


def test_create_user_token_and_stats(app, runner):
    email = f"cli{time.time_ns()}@example.com"
    result = runner.invoke(args=["chat", "create-user", email, "--password", "long enough pw"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["chat", "create-user", email, "--password", "long enough pw"])
    assert again.exit_code == 1 and "exists already" in again.output
    short = runner.invoke(args=["chat", "create-user", "x" + email, "--password", "short"])
    assert short.exit_code == 1 and "at least 8" in short.output
    result = runner.invoke(args=["chat", "create-token", email, "--name", "laptop"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert token.startswith("chat_")
    with app.app_context():
        accounts = AccountStore(db.session)
        user = accounts.find_user_by_email(email)
        assert accounts.user_for_token(token) == user.id
        assert accounts.list_tokens(user.id)[0].name == "laptop"
        db.session.remove()
    missing = runner.invoke(args=["chat", "create-token", "nobody@example.com"])
    assert missing.exit_code == 1 and "No user" in missing.output
    stats = runner.invoke(args=["chat", "stats"])
    assert stats.exit_code == 0 and "users:" in stats.output and "items:" in stats.output


def test_healthz_is_alive(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_create_token_for_an_external_user(app, runner):
    """The ChatKit adapter's users have no email: --external-id provisions them as it does."""
    first = runner.invoke(args=["chat", "create-token", "--external-id", "kit-user-7"])
    assert first.exit_code == 0 and first.output.startswith("chat_")
    again = runner.invoke(args=["chat", "create-token", "--external-id", "kit-user-7", "--name", "second"])
    assert again.exit_code == 0
    with app.app_context():
        accounts = AccountStore(db.session)
        user_id = accounts.ensure_external_user("kit-user-7")
        assert [t.name for t in accounts.list_tokens(user_id)] == ["second", "CLI token"]
        db.session.remove()
    for args in (["chat", "create-token"], ["chat", "create-token", "a@example.com", "--external-id", "x"]):
        refused = runner.invoke(args=args)
        assert refused.exit_code == 1 and "either EMAIL or --external-id" in refused.output

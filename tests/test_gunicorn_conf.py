"""gunicorn.conf.py: sizing and proxy settings from the environment and .env, and --preload under real gunicorn."""

from __future__ import annotations

import os
import runpy
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from chatapp.extensions import db
from support.api_client import make_token
from support.databases import TEST_SECRET_KEY, create_pg_database, drop_pg_database, free_port, make_app, make_user
from support.httpclient import Api, call
from support.servers import ROOT, gunicorn_server, migrate

CONF = str(ROOT / "gunicorn.conf.py")
SETTINGS_ENV = (
    "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "FORWARDED_ALLOW_IPS",
    "GUNICORN_ACCESS_LOG", "GUNICORN_CONTROL_SOCKET", "GUNICORN_PRELOAD", "CHATAPP_ENV_FILE",
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # away from a developer's .env
    return monkeypatch


def test_defaults_fit_the_machine(clean_env):
    conf = runpy.run_path(CONF)
    assert conf["worker_class"] == "gthread"
    assert conf["workers"] >= 2 and conf["threads"] == 4
    assert conf["timeout"] > 30  # above DB_CONNECT_TIMEOUT's default, so a 503 comes first
    assert conf["accesslog"] is None  # chatapp's own request line is the one line per request
    assert "%({x-request-id}o)s" in conf["access_log_format"]
    assert conf["forwarded_allow_ips"] == "127.0.0.1,::1"
    assert conf["control_socket_disable"] is True  # several instances per host must not collide
    assert conf["preload_app"] is False


def test_settings_come_from_the_environment(clean_env):
    clean_env.setenv("WEB_CONCURRENCY", "3")
    clean_env.setenv("GUNICORN_THREADS", "8")
    clean_env.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    clean_env.setenv("GUNICORN_PRELOAD", "true")
    clean_env.setenv("GUNICORN_CONTROL_SOCKET", "/run/chatapp/gunicorn.ctl")

    conf = runpy.run_path(CONF)

    assert (conf["workers"], conf["threads"]) == (3, 8)
    assert conf["forwarded_allow_ips"] == "10.0.0.0/8"
    assert conf["preload_app"] is True
    assert conf["control_socket"] == "/run/chatapp/gunicorn.ctl" and "control_socket_disable" not in conf


def test_gunicorn_binds_where_the_env_file_in_its_working_directory_says(tmp_path):
    url = f"sqlite:///{tmp_path / 'served.db'}"
    migrate(url, str(tmp_path))
    port = free_port()
    (tmp_path / ".env").write_text(
        f"GUNICORN_BIND=127.0.0.1:{port}\nWEB_CONCURRENCY=1\nDATABASE_URL={url}\n"
        f"SECRET_KEY={TEST_SECRET_KEY}\nCHATAPP_INSTANCE_PATH={tmp_path}\n"
    )
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "SECRET_KEY", "GUNICORN_BIND", "WEB_CONCURRENCY", "CHATAPP_ENV_FILE", "CHATAPP_INSTANCE_PATH", "HOST", "PORT")}
    env["PYTHONPATH"] = str(ROOT)  # wsgi.py from the checkout; gunicorn runs in tmp_path, beside .env
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", CONF, "wsgi:app"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            ready = None
            while ready is None and time.monotonic() < deadline and process.poll() is None:
                ready = call("GET", f"http://127.0.0.1:{port}/readyz", timeout=5) if _listening(port) else None
                time.sleep(0.2)
            assert ready is not None and ready.status == 200, log_path.read_text()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    assert f"Listening at: http://127.0.0.1:{port}" in log_path.read_text()
    assert "Booting worker" in log_path.read_text() and log_path.read_text().count("Booting worker") == 1


def test_preloaded_workers_each_get_fresh_database_connections(tmp_path):
    url = create_pg_database("chatapp_preload")
    try:
        migrate(url, str(tmp_path))
        app = make_app(url, str(tmp_path))
        token = make_token(app, make_user(app))
        with app.app_context():
            db.engine.dispose()
        with gunicorn_server(url, str(tmp_path), args=("--preload",), env={"WEB_CONCURRENCY": "2"}) as base:
            api = Api(base, token)
            thread = api.call("POST", "/threads", {"title": "preloaded"})
            assert thread.status == 201
            for i in range(20):  # spread over both workers
                reply = api.call("POST", f"/threads/{thread.json()['id']}/items", {"role": "user", "content": f"m{i}"})
                assert reply.status == 201, reply.text
            listed = api.call("GET", f"/threads/{thread.json()['id']}/items?limit=100")
            assert [item["seq"] for item in listed.json()["data"]] == list(range(1, 21))
            port = base.rsplit(":", 1)[1]
        log = (tmp_path / f"gunicorn-{port}.log").read_text()
        assert log.count("dropped the database connections inherited from the master") == 2
        assert "Traceback" not in log
    finally:
        drop_pg_database(url)


def test_boot_sh_migrates_then_serves(tmp_path):
    served_db, direct_db = tmp_path / "served.db", tmp_path / "direct.db"
    port = free_port()
    env = {
        **os.environ,
        "VENV": str(Path(sys.executable).parent.parent),
        "DATABASE_URL": f"sqlite:///{served_db}",
        "CHATAPP_INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": TEST_SECRET_KEY,
        "WEB_CONCURRENCY": "1",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    # The direct URL gets the migrations; the served database stays as it was.
    migrated_elsewhere = subprocess.run(
        [str(ROOT / "boot.sh"), "--version"], env={**env, "MIGRATION_DATABASE_URL": f"sqlite:///{direct_db}"},
        capture_output=True, text=True, timeout=120,
    )
    assert migrated_elsewhere.returncode == 0, migrated_elsewhere.stderr
    assert "gunicorn" in migrated_elsewhere.stdout  # exec'd gunicorn with the extra argument
    with closing(sqlite3.connect(direct_db)) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
    assert not served_db.exists() or served_db.stat().st_size == 0

    process = subprocess.Popen([str(ROOT / "boot.sh")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            ready = call("GET", f"http://127.0.0.1:{port}/readyz", timeout=5) if _listening(port) else None
            if ready is not None:
                break
            time.sleep(0.2)
        assert ready is not None and ready.status == 200, ready and ready.text
        assert ready.json() == {"status": "ok"}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _listening(port: int) -> bool:
    try:
        with closing(socket.create_connection(("127.0.0.1", port), timeout=1)):
            return True
    except OSError:
        return False

"""Starting chatapp for real (subprocesses): errors as one line without a traceback, for `flask`
and for gunicorn; the startup warnings and each request's log line once under `make run`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from support.databases import TEST_SECRET_KEY, create_pg_database, drop_pg_database, free_port, require_postgres
from support.servers import ROOT

BIN = Path(sys.executable).parent
VENV = BIN.parent
# Variables a developer's shell may carry that would change what these processes do.
CHATAPP_VARIABLES = (
    "DATABASE_URL", "SECRET_KEY", "CHATAPP_ENV", "CHATAPP_ENV_FILE", "FLASK_DEBUG", "GUNICORN_BIND",
    "DB_POOL_RECYCLE", "GUNICORN_THREADS", "LOG_LEVEL",
)


def environment(instance: Path, **variables: str) -> dict[str, str]:
    """The test's environment without chatapp's variables, plus `variables`; chatapp comes from
    the checkout (PYTHONPATH), as the processes run in `instance`, away from any .env."""
    env = {name: value for name, value in os.environ.items() if name not in CHATAPP_VARIABLES}
    return {**env, "PYTHONPATH": str(ROOT), "CHATAPP_INSTANCE_PATH": str(instance), **variables}


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def assert_one_line_failure(result: subprocess.CompletedProcess, expected: str, max_lines: int = 2) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Worker failed to boot" not in result.stderr
    assert len(lines) <= max_lines, result.stderr
    assert lines and lines[-1].startswith("error: ") and expected in lines[-1], result.stderr
    return lines[-1]


# -- flask ----------------------------------------------------------------------------------


def test_db_upgrade_with_an_unsupported_url_scheme_is_one_line(tmp_path):
    env = environment(tmp_path, DATABASE_URL="mysql://u@127.0.0.1/chatapp", SECRET_KEY=TEST_SECRET_KEY)
    result = run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], tmp_path, env)
    assert_one_line_failure(result, "DATABASE_URL has the scheme 'mysql'", max_lines=1)


@pytest.mark.parametrize("command", [["db", "upgrade"], ["chat", "stats"], ["chat", "create-token", "a@example.com"]])
def test_a_missing_database_is_one_line_naming_the_createdb_command(tmp_path, command):
    require_postgres()
    url = create_pg_database("chatapp_startup")
    drop_pg_database(url)  # a real server, and a database name known not to exist on it
    missing = url.rsplit("/", 1)[1]
    env = environment(tmp_path, DATABASE_URL=url, SECRET_KEY=TEST_SECRET_KEY)

    result = run([str(BIN / "flask"), "--app", "wsgi", *command], tmp_path, env)

    line = assert_one_line_failure(result, f'the database "{missing}" does not exist')
    assert re.search(rf"`createdb (-h \S+ )?(-p \d+ )?(-U \S+ )?{missing}`", line), line


def test_a_bad_setting_fails_a_flask_command_in_one_line(tmp_path):
    env = environment(tmp_path, DB_POOL_RECYCLE="abc", SECRET_KEY=TEST_SECRET_KEY)
    result = run([str(BIN / "flask"), "--app", "wsgi", "chat", "stats"], tmp_path, env)
    assert_one_line_failure(result, 'DB_POOL_RECYCLE must be an integer, got "abc"', max_lines=1)


def test_db_upgrade_logs_each_of_chatapps_lines_once(tmp_path):
    # migrations/env.py configures alembic's logging; chatapp's own lines (here the connect
    # retries against a closed port) must not gain a second copy through the root logger.
    env = environment(
        tmp_path, DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/none", DB_CONNECT_TIMEOUT="2",
        SECRET_KEY=TEST_SECRET_KEY,
    )
    result = run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], tmp_path, env)
    assert_one_line_failure(result, "cannot connect to the database", max_lines=20)
    retries = [line for line in result.stderr.splitlines() if "connect attempt" in line]
    assert retries and len(retries) == len(set(retries)), result.stderr


def test_importing_chatapp_hashes_no_password(tmp_path):
    probe = "import chatapp.store.accounts as accounts; print(accounts._dummy_hash.cache_info().currsize)"
    result = run([sys.executable, "-c", probe], tmp_path, environment(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"  # scrypt runs at the first unknown-email login, not at import


# -- gunicorn -------------------------------------------------------------------------------


def gunicorn(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{free_port()}", "wsgi:app"]
    env = environment(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'chatapp.db'}", WEB_CONCURRENCY="2", **variables)
    return run(command, tmp_path, env)


def test_gunicorn_refuses_a_bad_chatapp_setting_once_in_the_master(tmp_path):
    result = gunicorn(tmp_path, SECRET_KEY=TEST_SECRET_KEY, DB_POOL_RECYCLE="abc")
    assert_one_line_failure(result, 'DB_POOL_RECYCLE must be an integer, got "abc"')
    assert "Booting worker" not in result.stderr


def test_gunicorn_refuses_a_bad_gunicorn_setting_before_starting(tmp_path):
    result = gunicorn(tmp_path, SECRET_KEY=TEST_SECRET_KEY, GUNICORN_THREADS="many")
    assert_one_line_failure(result, 'GUNICORN_THREADS must be an integer, got "many"', max_lines=1)


@pytest.mark.parametrize("key", ["", "change-me", "short-key"])
def test_gunicorn_refuses_to_serve_without_a_real_secret_key(tmp_path, key):
    result = gunicorn(tmp_path, SECRET_KEY=key)
    line = assert_one_line_failure(result, "SECRET_KEY ")
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in line
    assert not (tmp_path / "secret_key").exists()


# -- make run -------------------------------------------------------------------------------


def make_run_commands(port: int) -> list[str]:
    """The commands `make run` runs (printed by make -n), with the project's virtualenv."""
    printed = subprocess.run(
        ["make", "-s", "-n", "run", f"VENV={VENV}", "HOST=127.0.0.1", f"PORT={port}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    commands = [line for line in printed.splitlines() if "flask --app wsgi" in line]
    assert [c.split("flask --app wsgi ")[1].split()[0:2] for c in commands] == [["db", "upgrade"], ["run", "--host"]]
    return commands


def test_make_run_warns_once_and_logs_each_request_once(tmp_path):
    port = free_port()
    upgrade, serve = make_run_commands(port)
    env = environment(tmp_path)  # no DATABASE_URL, no SECRET_KEY: the development defaults

    migrated = run(["sh", "-c", upgrade], tmp_path, env)
    assert migrated.returncode == 0, migrated.stderr
    assert "Running upgrade" in migrated.stderr and "Database: sqlite:///" in migrated.stderr
    assert "WARNING" not in migrated.stderr  # the serving process gives the warnings

    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(["sh", "-c", serve], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                        assert response.status == 200
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"make run's server did not come up:\n{log_path.read_text()}")
                    time.sleep(0.2)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                assert response.status == 200
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)  # the group: sh and the flask it started
                server.wait(timeout=15)

    output = log_path.read_text()
    assert output.count("DATABASE_URL is not set: using the embedded SQLite database") == 1, output
    assert output.count("SECRET_KEY kept in") == 1, output
    assert len(re.findall(r"\[chatapp\.request\] \[\w+\] GET /readyz 200", output)) == 1, output
    assert "GET /readyz HTTP/1.1" not in output  # werkzeug's own request line is dropped
    assert "Running on http://127.0.0.1:" in output  # werkzeug's other messages stay

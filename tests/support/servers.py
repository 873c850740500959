"""Real servers for tests: chatapp under gunicorn on a free localhost port, on a migrated database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .api_client import make_token
from .databases import TEST_SECRET_KEY, create_pg_database, drop_pg_database, free_port, make_app, make_user

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def migrate(database_url: str, instance_path: str) -> None:
    """Run `flask db upgrade` against database_url, in-process."""
    from flask_migrate import upgrade

    from chatapp.extensions import db

    app = make_app(database_url, instance_path)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@contextmanager
def gunicorn_server(
    database_url: str,
    instance_path: str,
    env: Mapping[str, str] | None = None,
    args: tuple[str, ...] = (),
    port: int | None = None,
    app_spec: str = "wsgi:app",
    log_name: str | None = None,
    up_when_answering: bool = False,
) -> Iterator[str]:
    """Serve wsgi:app (or `app_spec`) with gunicorn; yields the base URL and stops the server afterwards.

    Uses gunicorn.conf.py when the project has one (pass `args` to add or override flags). The
    log goes to instance_path/gunicorn-<port or log_name>.log. The server counts as up when
    /healthz answers 200, or any HTTP answer with `up_when_answering` (an app without /healthz).
    The benchmarks serve their apps with this too (bench/serve.py).
    """
    port = port or free_port()
    config = ["-c", str(ROOT / "gunicorn.conf.py")] if (ROOT / "gunicorn.conf.py").exists() else []
    command = [str(BIN / "gunicorn"), *config, "--bind", f"127.0.0.1:{port}", *args, app_spec]
    process_env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CHATAPP_INSTANCE_PATH": instance_path,
        "SECRET_KEY": TEST_SECRET_KEY,
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
        **(env or {}),
    }
    log_path = Path(instance_path) / f"gunicorn-{log_name or port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=process_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, process, log_path, up_when_answering=up_when_answering)
            yield base
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_until_up(
    base: str, process: subprocess.Popen, log_path: Path, timeout: float = 30, up_when_answering: bool = False
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError:
            if up_when_answering:
                return
            time.sleep(0.2)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout}s:\n{log_path.read_text()[-3000:]}")


@contextmanager
def served_on_postgres(instance_path: str) -> Iterator[dict[str, str]]:
    """chatapp under gunicorn on a throwaway, migrated PostgreSQL database, with one user and an
    API token: yields {"url", "instance", "base", "token"}; the database is dropped afterwards."""
    url = create_pg_database()
    try:
        migrate(url, instance_path)
        app = make_app(url, instance_path)
        token = make_token(app, make_user(app))
        with gunicorn_server(url, instance_path) as base:
            yield {"url": url, "instance": instance_path, "base": base, "token": token}
    finally:
        drop_pg_database(url)

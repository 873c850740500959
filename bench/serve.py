"""Serve chatapp or the baseline under gunicorn with the same settings, on a free local port.

By default both run under chatapp's gunicorn.conf.py as it is (gthread); `served(...,
gunicorn_args=SYNC_WORKERS)` adds flags (which win over the file), and `database_url` points an
app at another address of the bench database, e.g. through the link proxy (bench/link_bench.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from bench.common import BENCH_SECRET_KEY, DATABASE_URL, INSTANCE_PATH, ROOT

BIN = Path(sys.executable).parent
APPS = {"chatapp": "wsgi:app", "baseline": "bench.baseline_app:app"}
# Both apps run under chatapp's own gunicorn.conf.py; only the access log is off, for both,
# so that the disk is not part of the measurement.
GUNICORN_ENV = {"GUNICORN_ACCESS_LOG": "", "LOG_LEVEL": "warning"}
# How the outside reviewer served both apps: five single-threaded sync workers. gunicorn turns
# `-k sync` into gthread when threads > 1 (gunicorn.conf.py sets 4), hence `--threads 1`.
SYNC_WORKERS = ("-k", "sync", "-w", "5", "--threads", "1")


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(app_name: str, port: int, gunicorn_args: Sequence[str] = ()) -> list[str]:
    config = ROOT / "gunicorn.conf.py"
    return [
        str(BIN / "gunicorn"), "-c", str(config), "--bind", f"127.0.0.1:{port}", *gunicorn_args, APPS[app_name],
    ]


@contextmanager
def served(
    app_name: str,
    *,
    database_url: str = DATABASE_URL,
    gunicorn_args: Sequence[str] = (),
    label: str = "",
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Run one app under gunicorn; yields its base URL and stops it afterwards.

    `label` only names the log file (instance/bench/gunicorn-APP[-LABEL].log); `env` adds
    variables (e.g. DATABASE_REPLICA_URLS).
    """
    port = free_port()
    env = {
        **os.environ,
        **GUNICORN_ENV,
        "DATABASE_URL": database_url,
        "CHATAPP_INSTANCE_PATH": str(INSTANCE_PATH),
        "SECRET_KEY": BENCH_SECRET_KEY,
        **(env or {}),
    }
    INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
    log_path = INSTANCE_PATH / f"gunicorn-{app_name}{'-' + label if label else ''}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            gunicorn_command(app_name, port, gunicorn_args), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, process, log_path)
            yield base
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_until_up(base: str, process: subprocess.Popen, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            # Any HTTP answer means the server is up (the baseline has no /healthz: 404).
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout}s:\n{log_path.read_text()[-3000:]}")

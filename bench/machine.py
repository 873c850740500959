"""What the bench ran on: cores, memory, CPU model, PostgreSQL, Python, wrk and gunicorn settings."""

from __future__ import annotations

import os
import platform
from contextlib import closing
from pathlib import Path

import psycopg2

from bench.common import ROOT, SERVER_URL
from bench.serve import GUNICORN_ENV


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _postgres_version() -> str:
    with closing(psycopg2.connect(SERVER_URL)) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        return cur.fetchone()[0]


def gunicorn_settings() -> dict:
    """The settings gunicorn.conf.py resolves to under the bench's environment."""
    saved = {k: os.environ.get(k) for k in GUNICORN_ENV}
    os.environ.update(GUNICORN_ENV)
    try:
        namespace: dict = {"__file__": str(ROOT / "gunicorn.conf.py")}
        exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {key: namespace.get(key) for key in ("worker_class", "workers", "threads", "preload_app", "keepalive")}


def describe() -> dict:
    from bench.wrk_runner import wrk_version

    return {
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_gib(), 1),
        "cpu_model": _cpu_model(),
        "postgresql": _postgres_version(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "wrk": wrk_version(),
        "gunicorn": gunicorn_settings(),
    }

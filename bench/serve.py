"""Serve chatapp or the baseline under gunicorn with the same settings, on a free local port.

By default both run under chatapp's gunicorn.conf.py as it is (gthread); `served(...,
gunicorn_args=SYNC_WORKERS)` adds flags (which win over the file), and `database_url` points an
app at another address of the bench database, e.g. through the link proxy (bench/link_bench.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from bench.common import BENCH_SECRET_KEY, DATABASE_URL, INSTANCE_PATH
from tests.support.servers import gunicorn_server

APPS = {"chatapp": "wsgi:app", "baseline": "bench.baseline_app:app"}
# Both apps run under chatapp's own gunicorn.conf.py; only the access log is off, for both,
# so that the disk is not part of the measurement.
GUNICORN_ENV = {"GUNICORN_ACCESS_LOG": "", "LOG_LEVEL": "warning"}
# How the outside reviewer served both apps: five single-threaded sync workers. gunicorn turns
# `-k sync` into gthread when threads > 1 (gunicorn.conf.py sets 4), hence `--threads 1`.
SYNC_WORKERS = ("-k", "sync", "-w", "5", "--threads", "1")


@contextmanager
def served(
    app_name: str,
    *,
    database_url: str = DATABASE_URL,
    gunicorn_args: Sequence[str] = (),
    label: str = "",
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Run one app under gunicorn (the tests' own helper); yields its base URL and stops it afterwards.

    `label` only names the log file (instance/bench/gunicorn-APP[-LABEL].log); `env` adds
    variables (e.g. DATABASE_REPLICA_URLS).
    """
    INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
    with gunicorn_server(
        database_url,
        str(INSTANCE_PATH),
        env={**GUNICORN_ENV, "SECRET_KEY": BENCH_SECRET_KEY, **(env or {})},
        args=tuple(gunicorn_args),
        app_spec=APPS[app_name],
        log_name=f"{app_name}{'-' + label if label else ''}",
        up_when_answering=True,  # the baseline has no /healthz: any answer means it is up
    ) as base:
        yield base

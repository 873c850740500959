"""Shared bench helpers: the bench database's lifecycle, the chatapp app on it, and timing."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

from tests.support.pgproxy import PgProxy  # the round-trip counting, delaying proxy

# bench/ runs as a package from the project root (`python -m bench.run`, what `make bench` does),
# so chatapp, bench and the tests' helpers (tests.support) import without path edits.
ROOT = Path(__file__).resolve().parent.parent

# The server the bench creates its own database on (dropped again at the end).
SERVER_URL = os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE_NAME = os.environ.get("BENCH_DATABASE", "chatapp_bench")
DATABASE_URL = make_url(SERVER_URL).set(database=DATABASE_NAME).render_as_string(hide_password=False)
INSTANCE_PATH = ROOT / "instance" / "bench"
# Long enough for production's SECRET_KEY rules: the bench runs chatapp as in production.
BENCH_SECRET_KEY = "chatapp-bench-only-secret-key-0123456789"


def admin_connection():
    conn = psycopg2.connect(SERVER_URL, connect_timeout=5)
    conn.autocommit = True
    return conn


def create_database() -> str:
    """A fresh, empty bench database (an old one of the same name is dropped first)."""
    with closing(admin_connection()) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return DATABASE_URL


def drop_database() -> None:
    with closing(admin_connection()) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')


def libpq_dsn(url: str = DATABASE_URL) -> str:
    """The bench database (or `url`) as a plain libpq URL, for raw psycopg2 and psycopg 3."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def link_proxy(delay_ms: float) -> PgProxy:
    """A (not yet started) proxy to the bench's PostgreSQL server, holding each chunk `delay_ms`
    each way: 1 ms is a 2 ms round trip, a client in the same cloud region as Neon."""
    server = make_url(SERVER_URL)
    return PgProxy(server.host or "127.0.0.1", server.port or 5432, delay_ms=delay_ms)


def url_through(proxy: PgProxy, url: str = DATABASE_URL) -> str:
    """`url` with the started proxy's address in place of the server's."""
    return make_url(url).set(host=proxy.listen_host, port=proxy.port).render_as_string(hide_password=False)


def round_trip_ms(url: str, calls: int = 200) -> float:
    """Median milliseconds of `SELECT 1` on one autocommit connection to `url`: the link's RTT."""
    with closing(psycopg2.connect(libpq_dsn(url), connect_timeout=5)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            timings = []
            for _ in range(calls):
                started = time.perf_counter()
                cur.execute("SELECT 1")
                cur.fetchone()
                timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def chatapp_app(**config):
    """chatapp on the bench database, configured as in production apart from the URL."""
    from chatapp import create_app

    INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
    return create_app(
        {
            "DATABASE_URL": DATABASE_URL,
            "instance_path": str(INSTANCE_PATH),
            "SECRET_KEY": BENCH_SECRET_KEY,
            "LOG_LEVEL": "WARNING",
            **config,
        }
    )


@dataclass
class Sample:
    """Repeated measurements of one figure; `unit` says what the values are."""

    unit: str
    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def as_dict(self) -> dict:
        return {"unit": self.unit, "median": self.median, "min": self.low, "max": self.high, "values": self.values}


def ops_per_second(operation: Callable[[], object], seconds: float, rounds: int = 3, warmup: int = 20) -> Sample:
    """Calls per second of `operation`, measured for `seconds` in each of `rounds` rounds."""
    for _ in range(warmup):
        operation()
    sample = Sample("ops/s")
    for _ in range(rounds):
        count = 0
        started = time.perf_counter()
        deadline = started + seconds
        while True:
            operation()
            count += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        sample.values.append(count / (now - started))
    return sample


def per_call_ms(operation: Callable[[], object], calls: int, rounds: int = 3, warmup: int = 20) -> Sample:
    """Milliseconds per call of `operation`: `calls` calls per round, `rounds` rounds."""
    for _ in range(warmup):
        operation()
    sample = Sample("ms/call")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            operation()
        sample.values.append((time.perf_counter() - started) * 1000 / calls)
    return sample


def interleaved_ops_per_second(
    operations: dict[str, Callable[[], object]],
    seconds: float,
    rounds: int = 3,
    warmup: int = 20,
    slice_seconds: float = 0.1,
) -> dict[str, Sample]:
    """`ops_per_second` of several operations, measured side by side: in each of `rounds` rounds
    every operation runs for `seconds` in all, in turns of about `slice_seconds` (a call is never
    cut short), so a shift in the machine's load, even one lasting a second, hits them alike.
    Each warms up before the first round."""
    for operation in operations.values():
        for _ in range(warmup):
            operation()
    samples = {name: Sample("ops/s") for name in operations}
    for _ in range(rounds):
        elapsed = dict.fromkeys(operations, 0.0)
        calls = dict.fromkeys(operations, 0)
        while any(spent < seconds for spent in elapsed.values()):
            for name, operation in operations.items():
                if elapsed[name] >= seconds:
                    continue
                started = time.perf_counter()
                turn_ends = started + min(slice_seconds, seconds - elapsed[name])
                while True:
                    operation()
                    calls[name] += 1
                    now = time.perf_counter()
                    if now >= turn_ends:
                        break
                elapsed[name] += now - started
        for name in operations:
            samples[name].values.append(calls[name] / elapsed[name])
    return samples

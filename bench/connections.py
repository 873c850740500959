"""New database connections during a run of N requests against a served app, at steady state.

Counted by PostgreSQL itself: `pg_stat_database.sessions` of the bench database (sessions ever
opened, PostgreSQL 14+), read before and after the run, so no app needs instrumenting. A
warm-up of a few hundred requests first lets every worker fill its pool.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from contextlib import closing
from urllib.parse import urlsplit

import psycopg2

from bench.common import DATABASE_NAME, SERVER_URL
from bench.seed import Seeded

CLIENT_THREADS = 8
WARMUP_REQUESTS = 400


def sessions_opened() -> int:
    """Sessions ever opened on the bench database, once every backend has flushed its stats."""
    time.sleep(1.5)  # backends flush their pending statistics at most once a second
    with closing(psycopg2.connect(SERVER_URL)) as conn, conn.cursor() as cur:
        # This admin connection is on another database, so it does not count itself.
        cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (DATABASE_NAME,))
        return int(cur.fetchone()[0])


def _client(base: str, seeded: Seeded, count: int, offset: int, failures: list[str]) -> None:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    auth = {"Authorization": f"Bearer {seeded.token}"}
    body = json.dumps({"role": "user", "content": "connection count run"})
    read = f"/api/v1/threads/{seeded.read_thread}/items?limit=50&order=desc"
    try:
        for n in range(count):
            if (n + offset) % 2:
                thread = seeded.append_threads[(n * 31 + offset) % len(seeded.append_threads)]
                conn.request("POST", f"/api/v1/threads/{thread}/items", body, {**auth, "Content-Type": "application/json"})
            else:
                conn.request("GET", read, headers=auth)
            response = conn.getresponse()
            response.read()
            if response.status not in (200, 201):
                failures.append(f"status {response.status}")
    finally:
        conn.close()


def _drive(base: str, seeded: Seeded, total: int) -> list[str]:
    failures: list[str] = []
    per_thread = total // CLIENT_THREADS
    workers = [
        threading.Thread(target=_client, args=(base, seeded, per_thread, i, failures))
        for i in range(CLIENT_THREADS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return failures


def count_new_connections(base: str, seeded: Seeded, requests: int = 10_000) -> dict:
    """Half reads, half appends, from 8 keep-alive clients; new sessions opened meanwhile."""
    _drive(base, seeded, WARMUP_REQUESTS)
    before = sessions_opened()
    started = time.perf_counter()
    failures = _drive(base, seeded, requests)
    elapsed = time.perf_counter() - started
    opened = sessions_opened() - before
    return {
        "requests": requests,
        "new_connections": opened,
        "per_request": opened / requests,
        "failed_requests": len(failures),
        "seconds": elapsed,
    }

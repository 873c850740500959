"""SQL statements per request, counted with SQLAlchemy's before_cursor_execute event.

Requests go through each app's Flask test client (no server) on the bench database. Pool
pre-pings never reach this event (the pool pings on the raw DBAPI connection), and psycopg2's
implicit BEGIN and the COMMIT/ROLLBACK are not statements either, so the count is exactly the
SQL the request sent.
"""

from __future__ import annotations

import importlib
import os

from sqlalchemy import event

from bench.common import DATABASE_URL, chatapp_app
from bench.seed import Seeded

REQUESTS = 100


class StatementCounter:
    def __init__(self, engine):
        self.count = 0
        self.texts: list[str] = []
        event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        self.count += 1
        self.texts.append(" ".join(statement.split())[:120])


def _per_request(client, counter: StatementCounter, method: str, path: str, headers: dict, json_body=None) -> dict:
    """Statements of the first request (cold caches), then the mean over REQUESTS more."""
    counter.count = 0
    counter.texts.clear()
    response = client.open(path, method=method, headers=headers, json=json_body)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
    first, first_texts = counter.count, list(counter.texts)
    counter.count = 0
    counter.texts.clear()
    for _ in range(REQUESTS):
        response = client.open(path, method=method, headers=headers, json=json_body)
        assert response.status_code in (200, 201)
    steady_texts = counter.texts[: len(counter.texts) // REQUESTS]
    return {
        "first_request": first,
        "first_request_sql": first_texts,
        "per_request": counter.count / REQUESTS,
        "sql": steady_texts,
    }


def run(seeded: Seeded) -> dict:
    from chatapp.extensions import db

    read = f"/api/v1/threads/{seeded.read_thread}/items?limit=50&order=desc"
    append = f"/api/v1/threads/{seeded.append_threads[1]}/items"
    body = {"role": "user", "content": "statement count"}
    auth = {"Authorization": f"Bearer {seeded.token}"}
    results: dict[str, dict] = {}

    app = chatapp_app()
    with app.app_context():
        counter = StatementCounter(db.engine)
    client = app.test_client()
    results["chatapp"] = {
        "read": _per_request(client, counter, "GET", read, auth),
        "append": _per_request(client, counter, "POST", append, auth, body),
    }
    with app.app_context():
        db.engine.dispose()

    os.environ["DATABASE_URL"] = DATABASE_URL
    baseline = importlib.import_module("bench.baseline_app")
    counter = StatementCounter(baseline.engine)
    client = baseline.app.test_client()
    results["baseline"] = {
        "read": _per_request(client, counter, "GET", read, auth),
        "append": _per_request(client, counter, "POST", append, auth, body),
    }
    baseline.engine.dispose()
    return results

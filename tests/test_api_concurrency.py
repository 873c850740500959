"""Concurrent appends over real HTTP: 8 clients, 50 items each, one thread, gunicorn on PostgreSQL."""

from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import urlsplit

import pytest
from flask_migrate import upgrade

from chatapp.extensions import db
from support.api_client import make_token
from support.databases import create_pg_database, drop_pg_database, make_app, make_user
from support.servers import gunicorn_server

CLIENTS = 8
ITEMS_PER_CLIENT = 50

pytestmark = pytest.mark.postgres_only


class Connection:
    """One keep-alive HTTP connection speaking JSON with a Bearer token."""

    def __init__(self, base: str, token: str):
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        payload = json.dumps(body).encode() if body is not None else None
        self.connection.request(method, "/api/v1" + path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    def close(self) -> None:
        self.connection.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """gunicorn serving a freshly migrated PostgreSQL database, and a user's token."""
    url = create_pg_database("chatapp_api_concurrency")
    instance = str(tmp_path_factory.mktemp("instance"))
    app = make_app(url, instance)
    with app.app_context():
        upgrade()
    user_id = make_user(app)
    token = make_token(app, user_id)
    with app.app_context():
        db.engine.dispose()
    try:
        with gunicorn_server(url, instance) as base:
            yield base, token
    finally:
        drop_pg_database(url)


def test_eight_clients_appending_fifty_items_each_get_seq_1_to_400(served):
    base, token = served
    setup = Connection(base, token)
    status, thread = setup.call("POST", "/threads", {"title": "race"})
    assert status == 201
    thread_id = thread["id"]
    results: dict[int, list[tuple[int, int]]] = {}
    failures: list[str] = []
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        connection = Connection(base, token)
        mine: list[tuple[int, int]] = []
        try:
            start.wait()
            for n in range(ITEMS_PER_CLIENT):
                body = {"id": f"c{number}-{n}", "role": "user", "content": f"client {number} item {n}"}
                status, item = connection.call("POST", f"/threads/{thread_id}/items", body)
                if status != 201:
                    failures.append(f"client {number} item {n}: {status} {item}")
                    return
                mine.append((n, item["seq"]))
        except Exception as exc:  # reported below, with the client's number
            failures.append(f"client {number}: {exc!r}")
        finally:
            connection.close()
            results[number] = mine

    workers = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not failures, failures[:5]
    assert all(not worker.is_alive() for worker in workers)

    seqs = sorted(seq for mine in results.values() for _, seq in mine)
    assert seqs == list(range(1, CLIENTS * ITEMS_PER_CLIENT + 1))
    for mine in results.values():  # each client's own appends come out in the order it sent them
        assert [seq for _, seq in mine] == sorted(seq for _, seq in mine)

    stored: list[dict] = []
    after = None
    while True:
        query = f"?limit=100{'&after=' + after if after else ''}"
        status, page = setup.call("GET", f"/threads/{thread_id}/items{query}")
        assert status == 200
        stored += page["data"]
        if not page["has_more"]:
            break
        after = page["after"]
    setup.close()
    assert [item["seq"] for item in stored] == list(range(1, 401))
    assert len({item["id"] for item in stored}) == 400

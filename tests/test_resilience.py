"""Surviving dropped connections, idle kills, restarts and outages, on a private PostgreSQL cluster
that the tests kill and restart, behind a real gunicorn."""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa

from chatapp.errors import DatabaseUnavailable
from chatapp.extensions import db
from chatapp.store import ChatStore
from chatapp.store.accounts import AccountStore
from support.api_client import make_token
from support.databases import make_app, make_user
from support.httpclient import Api, Reply, call
from support.pgcluster import PrivateCluster
from support.servers import gunicorn_server, migrate

APP_ROLE = "chatapp_app"
# Small, so an outage longer than this answers 503 instead of waiting (the restart test needs both).
CONNECT_BUDGET = 3


@dataclass
class Served:
    base: str
    api: Api
    log: Path
    database_url: str


@pytest.fixture(scope="module")
def cluster():
    cluster = PrivateCluster()
    try:
        yield cluster.init()
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
def database_url(cluster) -> str:
    return cluster.create_app_database(APP_ROLE, "chatapp")


@pytest.fixture(scope="module")
def served(cluster, database_url, tmp_path_factory):
    instance = tmp_path_factory.mktemp("resilience")
    migrate(database_url, str(instance))
    app = make_app(database_url, str(instance))
    token = make_token(app, make_user(app))
    with app.app_context():
        db.engine.dispose()
    env = {"DB_CONNECT_TIMEOUT": str(CONNECT_BUDGET), "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4"}
    with gunicorn_server(database_url, str(instance), env=env) as base:
        port = base.rsplit(":", 1)[1]
        yield Served(base, Api(base, token), instance / f"gunicorn-{port}.log", database_url)


def new_thread(api: Api) -> str:
    reply = api.call("POST", "/threads", {"title": "resilience"})
    assert reply.status == 201, reply.text
    return reply.json()["id"]


def mixed_requests(api: Api, thread_id: str, count: int, clients: int = 4) -> list[str]:
    """`count` reads and writes of every kind from `clients` concurrent clients; returns the failures."""

    def one(i: int) -> Reply:
        kind = i % 5
        if kind == 0:
            return api.call("GET", "/threads?limit=5")
        if kind == 1:
            return api.call("POST", f"/threads/{thread_id}/items", {"role": "user", "content": f"mixed {i}"})
        if kind == 2:
            return api.call("GET", f"/threads/{thread_id}/items?limit=20&order=desc")
        if kind == 3:
            return api.call("GET", f"/threads/{thread_id}")
        return api.call("PATCH", f"/threads/{thread_id}", {"metadata": {"touched": i}})

    with ThreadPoolExecutor(clients) as pool:
        replies = list(pool.map(one, range(count)))
    return [f"{reply.status} {reply.text[:200]}" for reply in replies if reply.status >= 400]


def all_item_ids(api: Api, thread_id: str) -> list[str]:
    """Every item id of the thread in seq order, page by page; checks the seqs on the way."""
    items: list[dict] = []
    after = ""
    while True:
        reply = api.call("GET", f"/threads/{thread_id}/items?limit=100{after}")
        assert reply.status == 200, reply.text
        page = reply.json()
        items.extend(page["data"])
        if not page["has_more"]:
            break
        after = f"&after={page['after']}"
    seqs = [item["seq"] for item in items]
    assert seqs == sorted(set(seqs)), "seqs must be unique and ascending"
    return [item["id"] for item in items]


def test_terminated_connections_cost_no_request(served, cluster):
    thread_id = new_thread(served.api)
    assert mixed_requests(served.api, thread_id, 40, clients=8) == []  # both workers pool connections

    killed = cluster.terminate_app_connections()

    assert killed >= 2
    assert mixed_requests(served.api, thread_id, 100) == []
    assert cluster.app_connection_count() >= 1  # it reconnected


def test_idle_session_timeout_costs_no_request(served, cluster):
    thread_id = new_thread(served.api)
    cluster.execute(f"ALTER ROLE {APP_ROLE} SET idle_session_timeout = '2s'")
    try:
        cluster.terminate_app_connections()  # the next sessions start with the 2 s timeout
        assert mixed_requests(served.api, thread_id, 20) == []
        assert cluster.app_connection_count() >= 1

        time.sleep(3)
        assert cluster.app_connection_count() == 0  # the server closed every idle session

        assert mixed_requests(served.api, thread_id, 100) == []
    finally:
        cluster.execute(f"ALTER ROLE {APP_ROLE} RESET idle_session_timeout")


def next_pooled_backend_pid() -> int:
    """The backend of the connection the next store call takes: a self-contained call takes its
    own from the pool, which hands out the connection checked in last (pool_use_lifo)."""
    connection = db.engine.raw_connection()
    try:
        return connection.dbapi_connection.get_backend_pid()
    finally:
        connection.close()


def test_a_read_is_retried_when_its_connection_dies_under_it(cluster, database_url, tmp_path):
    app = make_app(database_url, str(tmp_path))
    with app.app_context():
        user_id = AccountStore(db.session).create_user("reader@example.com", "correct horse battery").id
        store = ChatStore(db.session)
        thread = store.create_thread(user_id, title="t")
        first, _ = store.add_item(user_id, thread.id, role="user", content="one")

        store.get_thread(user_id, thread.id)
        pid = next_pooled_backend_pid()  # the connection the next call takes
        assert cluster.execute("SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]

        page = store.list_items(user_id, thread.id)  # fails on the dead connection, then is retried

        assert [item.id for item in page.data] == [first.id]
        assert next_pooled_backend_pid() != pid
        db.session.remove()
        db.engine.dispose()


def test_an_append_on_a_dead_connection_is_retried_once_without_duplicate_or_gap(cluster, database_url, tmp_path):
    app = make_app(database_url, str(tmp_path))
    with app.app_context():
        user_id = AccountStore(db.session).create_user("writer@example.com", "correct horse battery").id
        store = ChatStore(db.session)
        thread = store.create_thread(user_id, title="t")
        store.add_item(user_id, thread.id, role="user", content="before")

        pid = next_pooled_backend_pid()
        assert cluster.execute("SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
        item, created = store.add_item(user_id, thread.id, role="user", content="hello", item_id="msg-client-1")

        assert (created, item.seq) == (True, 2)
        assert next_pooled_backend_pid() != pid
        again, created_again = store.add_item(user_id, thread.id, role="user", content="hello", item_id="msg-client-1")
        assert (created_again, again.seq) == (False, 2)
        after, _ = store.add_item(user_id, thread.id, role="user", content="after")
        assert after.seq == 3
        assert [(i.seq, i.content) for i in store.list_items(user_id, thread.id).data] == [
            (1, "before"), (2, "hello"), (3, "after")
        ]
        db.session.remove()
        db.engine.dispose()


def test_inside_a_unit_of_work_nothing_is_retried(cluster, database_url, tmp_path):
    app = make_app(database_url, str(tmp_path))
    with app.app_context():
        user_id = AccountStore(db.session).create_user("unit@example.com", "correct horse battery").id
        store = ChatStore(db.session)
        thread = store.create_thread(user_id, title="t")
        pid = next_pooled_backend_pid()  # the unit's connection
        assert cluster.execute("SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
        with pytest.raises(DatabaseUnavailable), store.transaction():
            store.add_item(user_id, thread.id, role="user", content="one", item_id="unit-1")
            store.add_item(user_id, thread.id, role="user", content="two", item_id="unit-2")
        # The caller retries the whole unit: both land, once, in order.
        with store.transaction():
            store.add_item(user_id, thread.id, role="user", content="one", item_id="unit-1")
            store.add_item(user_id, thread.id, role="user", content="two", item_id="unit-2")
        assert [(i.seq, i.id) for i in store.list_items(user_id, thread.id).data] == [(1, "unit-1"), (2, "unit-2")]
        db.session.remove()
        db.engine.dispose()


@dataclass
class Attempt:
    item_id: str
    body: dict
    status: int
    code: str | None
    finished: float


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart_while_four_clients_append(served, cluster, mode):
    thread_id = new_thread(served.api)
    attempts: list[Attempt] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            body = {"id": f"c{n}-{mode}-{i}", "role": "user", "content": f"client {n} message {i}"}
            try:
                reply = served.api.call("POST", f"/threads/{thread_id}/items", body, timeout=30)
                status, code = reply.status, (reply.json().get("error", {}).get("code") if reply.status >= 400 else None)
            except OSError as exc:  # the HTTP server itself failed: recorded, and fails the test below
                status, code = 0, repr(exc)
            with lock:
                attempts.append(Attempt(body["id"], body, status, code, time.monotonic()))
            i += 1

    def acked_after(moment: float) -> int:
        with lock:
            return sum(1 for a in attempts if a.status == 201 and a.finished > moment)

    clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in clients:
        thread.start()
    try:
        _wait_for(lambda: acked_after(0) >= 8, 30, "clients never got going")
        # Down for longer than the connect budget: requests in the gap must answer 503, not hang.
        cluster.restart(mode, down_seconds=CONNECT_BUDGET + 1)
        back_at = time.monotonic()
        _wait_for(lambda: acked_after(back_at) >= 8, 30, "no acknowledged write after the restart")
    finally:
        stop.set()
        for thread in clients:
            thread.join(60)

    failures = [a for a in attempts if a.status != 201]
    assert {(a.status, a.code) for a in failures} <= {(503, "database_unavailable")}, failures[:5]
    assert failures, "the outage should have been visible to the clients as 503s"
    first_success_after = min(a.finished for a in attempts if a.status == 201 and a.finished > back_at)
    assert first_success_after - back_at <= 10

    # A client retries its failed writes with the same ids: each lands exactly once.
    for attempt in failures:
        reply = served.api.call("POST", f"/threads/{thread_id}/items", attempt.body)
        assert reply.status in (200, 201), reply.text
    stored = all_item_ids(served.api, thread_id)
    assert len(stored) == len(set(stored))
    assert set(stored) == {a.item_id for a in attempts}
    assert "Traceback" not in served.log.read_text()


def test_database_down_answers_503_quickly_then_recovers(served, cluster):
    thread_id = new_thread(served.api)
    form = call("GET", served.base + "/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    cookie = form.headers["Set-Cookie"].split(";")[0]
    cluster.stop("fast")
    try:
        reply = served.api.call("GET", f"/threads/{thread_id}/items", timeout=CONNECT_BUDGET + 20)
        assert reply.status == 503
        assert reply.json()["error"]["code"] == "database_unavailable"
        assert reply.headers["Retry-After"]

        page = call(
            "POST",
            served.base + "/login",
            form={"email": "someone@example.com", "password": "correct horse battery", "csrf_token": csrf},
            headers={"Cookie": cookie, "Accept": "text/html"},
            timeout=CONNECT_BUDGET + 20,
        )
        assert page.status == 503
        assert page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Retry-After"]
        assert "Traceback" not in page.text

        ready = call("GET", served.base + "/readyz", headers={"X-Request-ID": "probe-while-down"}, timeout=CONNECT_BUDGET + 20)
        assert ready.status == 503 and ready.headers["Retry-After"]
        probe_lines = [line for line in served.log.read_text().splitlines() if "[probe-while-down]" in line]
        assert probe_lines and not any("retrying" in line for line in probe_lines)  # one attempt, no backoff
    finally:
        cluster.start()

    _wait_for(lambda: served.api.call("GET", f"/threads/{thread_id}").status == 200, 10, "not back within 10 s")
    log = served.log.read_text()
    assert "Traceback" not in log
    assert "WORKER TIMEOUT" not in log


def _wait_for(condition, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.1)


def test_pooled_connections_carry_keepalives_and_tcp_user_timeout(database_url, tmp_path):
    """A peer that vanishes (half-open connection) is detected by the kernel, not waited on forever."""
    app = make_app(database_url, str(tmp_path))
    with app.app_context(), db.engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        sock = socket.socket(fileno=os.dup(dbapi.fileno()))
        try:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 10
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000
        finally:
            sock.close()  # closes only the duplicate descriptor
        assert dbapi.get_dsn_parameters()["application_name"] == "chatapp"
    with app.app_context():
        db.engine.dispose()


def test_connects_wait_out_a_restart_but_give_up_within_the_budget(cluster, database_url, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="chatapp")
    patient = make_app(database_url, str(tmp_path), DB_CONNECT_TIMEOUT="10")
    hasty = make_app(database_url, str(tmp_path), DB_CONNECT_TIMEOUT="2")
    cluster.stop("fast")
    try:
        with hasty.app_context(), pytest.raises(sa.exc.OperationalError, match="refused"):
            db.engine.connect()
        gave_up = [r for r in caplog.records if "retrying" in r.getMessage()]
        assert len(gave_up) >= 3  # backed off and retried before giving up

        starter = threading.Timer(1.0, cluster.start)
        starter.start()
        with patient.app_context(), db.engine.connect() as conn:  # refused, then accepted
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
        starter.join()
    finally:
        if not _accepting(cluster):
            cluster.start()
    for app in (patient, hasty):
        with app.app_context():
            db.engine.dispose()


def _accepting(cluster: PrivateCluster) -> bool:
    try:
        cluster.execute("SELECT 1")
        return True
    except psycopg2.OperationalError:
        return False

"""Read replicas in-process, on a private primary and its streaming replica (replay delayed 200 ms):
where each read goes and what it costs on the wire, read-your-writes through the carried position
(header and browser session), a replica that lags or stops, and `flask chat doctor`."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import make_url

from chatapp.consistency import HEADER, replica_set
from chatapp.extensions import db
from chatapp.positions import parse_lsn
from chatapp.replicas import PRIMARY_POSITION, ReplicaSet
from support.api_client import BASE, ApiClient
from support.databases import make_app
from support.pgcluster import PrivateCluster
from support.pgproxy import PgProxy
from support.servers import migrate
from support.ui import register

APP_ROLE = "chatapp_app"
APPLY_DELAY = "200ms"


@dataclass
class Databases:
    primary: PrivateCluster
    replica: PrivateCluster
    primary_proxy: PgProxy
    replica_proxy: PgProxy
    url: str  # the primary, through its proxy
    replica_url: str  # the replica, through its proxy


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    primary = PrivateCluster()
    replica = None
    try:
        primary.init()
        direct = primary.create_app_database(APP_ROLE, "chatapp")
        migrate(direct, str(tmp_path_factory.mktemp("replicas-migrate")))
        replica = primary.standby(recovery_min_apply_delay=APPLY_DELAY)
        with PgProxy("127.0.0.1", primary.port) as primary_proxy, PgProxy("127.0.0.1", replica.port) as replica_proxy:
            url = make_url(direct)
            yield Databases(
                primary, replica, primary_proxy, replica_proxy,
                url.set(port=primary_proxy.port).render_as_string(hide_password=False),
                url.set(port=replica_proxy.port).render_as_string(hide_password=False),
            )
    finally:
        if replica is not None:
            replica.destroy()
        primary.destroy()


def replica_app(databases: Databases, tmp_path_factory, **config):
    """An app reading from the replica; its probe runs once, then only when a test calls probe()."""
    app = make_app(
        databases.url, str(tmp_path_factory.mktemp("replicas")),
        DATABASE_REPLICA_URLS=databases.replica_url, DB_PING_IDLE_SECONDS="3600", **config,
    )
    replica_set(app).probe_seconds = 3600
    return app


def close(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    replica_set(app).close()


@pytest.fixture(scope="module")
def app(databases, tmp_path_factory):
    application = replica_app(databases, tmp_path_factory, DB_REPLICA_WAIT_MS="0")
    yield application
    close(application)


def replicas_of(app) -> ReplicaSet:
    return replica_set(app)


def caught_up(databases: Databases, *apps) -> None:
    """The replica has replayed everything, and each app has seen it do so."""
    databases.replica.wait_replayed(databases.primary)
    for application in apps:
        replicas_of(application).probe()


class Wire:
    """Round trips on each server during a block, from the proxies' counts."""

    def __init__(self, databases: Databases):
        self.databases = databases

    def __enter__(self) -> Wire:
        self.databases.primary_proxy.reset()
        self.databases.replica_proxy.reset()
        return self

    def __exit__(self, *exc_info) -> None:
        self.primary = self.databases.primary_proxy.round_trips
        self.replica = self.databases.replica_proxy.round_trips
        self.primary_statements = list(self.databases.primary_proxy.statements)
        self.replica_statements = list(self.databases.replica_proxy.statements)


def test_a_read_goes_to_the_replica_in_one_round_trip_and_the_primary_sees_none(app, databases):
    alice = ApiClient(app)
    thread_id = alice.new_thread(title="read me")["id"]
    for n in range(3):
        alice.new_item(thread_id, f"m{n}")
    caught_up(databases, app)
    alice.get(f"/threads/{thread_id}/items")  # warm: the replica's pooled connection

    for path in (f"/threads/{thread_id}/items", f"/threads/{thread_id}", "/threads"):
        with Wire(databases) as wire:
            response = alice.get(path)
        assert response.status_code == 200
        assert (wire.primary, wire.replica) == (0, 1), (path, wire.primary_statements, wire.replica_statements)
    assert [item["content"] for item in alice.get(f"/threads/{thread_id}/items").get_json()["data"]] == ["m0", "m1", "m2"]


def test_a_write_costs_one_more_round_trip_for_its_position(app, databases):
    alice = ApiClient(app)
    thread_id = alice.new_thread()["id"]
    alice.new_item(thread_id, "warm")

    with Wire(databases) as wire:
        response = alice.post(f"/threads/{thread_id}/items", json={"role": "user", "content": "counted"})

    assert response.status_code == 201
    assert (wire.primary, wire.replica) == (2, 0), wire.primary_statements
    assert wire.primary_statements[-1] == PRIMARY_POSITION
    position = parse_lsn(response.headers[HEADER])
    assert position is not None and position <= databases.primary.current_position()
    assert "Cookie" not in response.headers.get("Vary", "") and "Set-Cookie" not in response.headers  # the API has no session


def test_the_writer_reads_its_write_from_the_primary_until_the_replica_replayed_it(app, databases):
    alice = ApiClient(app)
    thread_id = alice.new_thread()["id"]
    caught_up(databases, app)

    written = alice.new_item(thread_id, "just now")
    with Wire(databases) as wire:
        items = alice.get(f"/threads/{thread_id}/items").get_json()["data"]
    assert [item["id"] for item in items] == [written["id"]]
    assert (wire.primary, wire.replica) == (1, 0)  # the replica is 200 ms behind: not asked

    caught_up(databases, app)
    with Wire(databases) as wire:
        items = alice.get(f"/threads/{thread_id}/items").get_json()["data"]
    assert [item["id"] for item in items] == [written["id"]]
    assert (wire.primary, wire.replica) == (0, 1)


def test_another_instance_sees_the_write_when_the_client_sends_its_position(app, databases, tmp_path_factory):
    other = replica_app(databases, tmp_path_factory, DB_REPLICA_WAIT_MS="0")  # its own process memory
    try:
        alice = ApiClient(app)
        thread_id = alice.new_thread()["id"]
        caught_up(databases, app, other)
        reader = other.test_client()
        headers = dict(alice.headers)
        misses = 0
        for n in range(5):
            written = alice.post(f"/threads/{thread_id}/items", json={"role": "user", "content": f"w{n}"})
            assert written.status_code == 201
            position = written.headers[HEADER]
            blind = reader.get(f"{BASE}/threads/{thread_id}/items?order=desc&limit=1", headers=headers)
            misses += blind.get_json()["data"][:1] != [written.get_json()]
            carried = reader.get(f"{BASE}/threads/{thread_id}/items?order=desc&limit=1", headers={**headers, HEADER: position})
            assert carried.status_code == 200
            assert carried.get_json()["data"] == [written.get_json()], n
            headers_seen = carried.headers.get(HEADER)
            assert headers_seen is None  # the reader wrote nothing, and the client has the position
        # Without the position the other instance reads the lagging replica: the check above is not vacuous.
        assert misses >= 3
    finally:
        close(other)


def test_a_read_waits_briefly_for_the_replica_rather_than_load_the_primary(databases, tmp_path_factory):
    waiting = replica_app(databases, tmp_path_factory, DB_REPLICA_WAIT_MS="2000")
    try:
        alice = ApiClient(waiting)
        thread_id = alice.new_thread()["id"]
        written = alice.new_item(thread_id, "wait for me")
        reader = waiting.test_client()  # a fresh session: what another request of this user would do
        with Wire(databases) as wire:
            started = time.monotonic()
            page = reader.get(f"{BASE}/threads/{thread_id}/items", headers=alice.headers).get_json()["data"]
            waited = time.monotonic() - started
        assert [item["id"] for item in page] == [written["id"]]
        assert wire.primary == 0, wire.primary_statements  # served by the replica once it replayed the write
        assert any("thread_items" in statement for statement in wire.replica_statements)
        assert 0.05 < waited < 2.0  # it waited for the 200 ms apply delay, not for the whole budget
    finally:
        close(waiting)


def test_the_browser_session_carries_the_position_to_another_instance(app, databases, tmp_path_factory):
    other = replica_app(databases, tmp_path_factory, DB_REPLICA_WAIT_MS="0")
    try:
        email, password = f"b{secrets.token_hex(4)}@example.com", "correct horse battery"
        browser = app.test_client()
        register(browser, email, password)  # signs up, then logs in
        page = browser.get("/").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        caught_up(databases, app, other)
        # The replica replays nothing until the end: the position alone decides where reads go.
        databases.replica.execute("SELECT pg_wal_replay_pause()")

        sent = browser.post("/threads", data={"content": "from the browser", "csrf_token": csrf}, headers={"Accept": "application/json"})
        assert sent.status_code == 201, sent.get_data(as_text=True)[:300]
        assert sent.headers[HEADER]
        thread_url = sent.get_json()["thread_url"]

        elsewhere = other.test_client()
        elsewhere.set_cookie("session", browser.get_cookie("session").value)
        shown = elsewhere.get(thread_url)
        assert shown.status_code == 200 and "from the browser" in shown.get_data(as_text=True)

        stale = other.test_client()  # the same user without the position: the lagging replica
        with other.app_context():
            replicas_of(other).positions._positions.clear()
        stale.set_cookie("session", browser.get_cookie("session").value)
        with stale.session_transaction() as session:
            session.pop("consistency")
        assert stale.get(thread_url).status_code == 404  # not replayed yet: the check above is not vacuous
    finally:
        databases.replica.execute("SELECT pg_wal_replay_resume()")
        close(other)


def test_a_malformed_position_is_refused(app):
    alice = ApiClient(app)
    response = alice.get("/threads", headers={HEADER: "yesterday"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request" and HEADER in error["message"]
    assert alice.get("/threads", headers={HEADER: "0/16B3748"}).status_code == 200


def test_without_replicas_nothing_is_routed_and_no_position_is_sent(databases, tmp_path_factory):
    plain = make_app(databases.url, str(tmp_path_factory.mktemp("plain")))
    try:
        assert replica_set(plain) is None
        alice = ApiClient(plain)
        thread_id = alice.new_thread()["id"]
        with Wire(databases) as wire:
            written = alice.post(f"/threads/{thread_id}/items", json={"role": "user", "content": "x"})
            alice.get(f"/threads/{thread_id}/items")
        assert HEADER not in written.headers
        assert (wire.primary, wire.replica) == (2, 0)
    finally:
        with plain.app_context():
            db.engine.dispose()


def test_a_lagging_replica_leaves_the_rotation_and_comes_back(databases, tmp_path_factory, caplog):
    lagging = replica_app(databases, tmp_path_factory, DB_REPLICA_WAIT_MS="0", DB_REPLICA_MAX_LAG_SECONDS="1")
    replicas = replicas_of(lagging)
    caplog.set_level(logging.INFO, logger="chatapp")
    try:
        alice = ApiClient(lagging)
        thread_id = alice.new_thread()["id"]
        reader = ApiClient(lagging)  # never writes: reads the replica whenever it is in rotation
        assert reader.get("/threads").status_code == 200  # warm: its token is cached
        caught_up(databases, lagging)
        databases.replica.execute("SELECT pg_wal_replay_pause()")
        alice.new_item(thread_id, "while paused")
        time.sleep(1.5)
        replicas.probe()
        assert not replicas.replicas[0].in_rotation and "lagging" in replicas.replicas[0].problem

        with Wire(databases) as wire:
            assert reader.get("/threads").status_code == 200
        assert (wire.primary, wire.replica) == (1, 0)

        databases.replica.execute("SELECT pg_wal_replay_resume()")
        caught_up(databases, lagging)
        assert replicas.replicas[0].in_rotation
        with Wire(databases) as wire:
            assert reader.get("/threads").status_code == 200
        assert (wire.primary, wire.replica) == (0, 1)
        messages = [record.getMessage() for record in caplog.records]
        assert sum("is out of rotation: lagging" in message for message in messages) == 1
        assert sum("is back in rotation" in message for message in messages) == 1
    finally:
        databases.replica.execute("SELECT pg_wal_replay_resume()")
        close(lagging)


def test_doctor_reports_each_replica(app, databases):
    caught_up(databases, app)
    result = app.test_cli_runner().invoke(args=["chat", "doctor"])
    assert result.exit_code == 0, result.output
    assert "replicas:   pool size=5 each, wait=0 ms, max lag=5s" in result.output
    line = next(line for line in result.output.splitlines() if line.startswith("read replica 1 ("))
    assert re.search(r": PostgreSQL 1\d\.\d+.*, reachable, lag \d+ ms$", line), line
    assert f":{databases.replica_proxy.port}/chatapp" in line


def test_a_stopped_replica_hands_its_reads_to_the_primary_and_comes_back(app, databases, caplog):
    replicas = replicas_of(app)
    alice = ApiClient(app)
    thread_id = alice.new_thread(title="kept")["id"]
    alice.new_item(thread_id, "before the outage")
    caught_up(databases, app)
    assert alice.get(f"/threads/{thread_id}/items").status_code == 200  # a pooled replica connection
    caplog.set_level(logging.INFO, logger="chatapp")

    databases.replica.stop("immediate")
    try:
        for _ in range(5):
            response = alice.get(f"/threads/{thread_id}/items")
            assert response.status_code == 200
            assert [item["content"] for item in response.get_json()["data"]] == ["before the outage"]
        assert app.test_client().get("/readyz").status_code == 200
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "is out of rotation: unreachable" in warnings[0], warnings
        doctor = app.test_cli_runner().invoke(args=["chat", "doctor"])
        assert doctor.exit_code == 1
        assert "read replica 1 (" in doctor.output and ": unreachable: " in doctor.output
        assert "is unreachable: the primary serves its reads" in doctor.output
        replicas.probe()  # still down: no second warning
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    finally:
        databases.replica.start()

    caught_up(databases, app)
    assert replicas.replicas[0].in_rotation
    with Wire(databases) as wire:
        assert alice.get(f"/threads/{thread_id}/items").status_code == 200
    assert (wire.primary, wire.replica) == (0, 1)
    assert any("is back in rotation" in r.getMessage() for r in caplog.records)


def test_chatkit_loads_read_the_replica_and_see_their_own_writes(app, databases):
    chatkit = pytest.importorskip("chatapp.integrations.chatkit", reason="openai-chatkit is not installed")
    from chatkit.types import ThreadMetadata

    store = chatkit.ChatKitStore(app)
    context = {"user_id": f"host-{secrets.token_hex(4)}"}
    thread = ThreadMetadata(id=f"thr_{secrets.token_hex(6)}", title="from chatkit", created_at=datetime.now(UTC))

    async def save_then_load():
        await store.save_thread(thread, context)
        return await store.load_threads(10, None, "asc", context)

    with Wire(databases) as wire:
        page = asyncio.run(save_then_load())
    assert [t.id for t in page.data] == [thread.id]  # its own write, from the primary
    assert wire.replica == 0

    caught_up(databases, app)
    with Wire(databases) as wire:
        page = asyncio.run(store.load_threads(10, None, "asc", context))
    assert [t.title for t in page.data] == ["from chatkit"]
    assert wire.replica == 1  # the load itself; the primary only looked the host's user up
    assert wire.primary_statements and all("users" in statement for statement in wire.primary_statements)


def test_a_streamed_reply_ends_with_the_position_of_what_it_stored(app, databases):
    alice = ApiClient(app)
    thread_id = alice.new_thread()["id"]
    response = alice.post(f"/threads/{thread_id}/messages", json={"content": "hello", "stream": True})
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1].removeprefix("data: ")))
        for block in response.get_data(as_text=True).strip().split("\n\n")
    ]
    assert [name for name, _ in events][-2:] == ["assistant", "consistency"]
    final = parse_lsn(events[-1][1]["position"])
    assert final >= parse_lsn(response.headers[HEADER])  # the reply was stored after the headers left
    assert final == replicas_of(app).positions.get(alice.user_id)

    other = alice.get(f"/threads/{thread_id}/items", headers={HEADER: events[-1][1]["position"]})
    assert [item["role"] for item in other.get_json()["data"]] == ["user", "assistant"]

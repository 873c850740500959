"""Round trips per request on PostgreSQL, counted on the wire (tests/support/pgproxy.py), and what a
lost answer or an idle connection costs."""

from __future__ import annotations

import secrets
import threading
import time

import psycopg2
import pytest
from flask_migrate import upgrade

from chatapp.extensions import db
from chatapp.services import chat_store
from chatapp.store.accounts import AccountStore
from support.api_client import ApiClient
from support.databases import make_app

PING_IDLE_SECONDS = 0.5



@pytest.fixture(scope="module")
def app(pg_proxy, tmp_path_factory):
    application = make_app(pg_proxy.database_url, str(tmp_path_factory.mktemp("round-trips")), DB_PING_IDLE_SECONDS=str(PING_IDLE_SECONDS))
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def alice(app):
    return ApiClient(app)



def test_a_read_and_an_append_cost_one_round_trip_each(pg_proxy, alice):
    thread_id = alice.new_thread()["id"]
    for n in range(60):
        alice.new_item(thread_id, f"m{n}")

    def read():
        response = alice.get(f"/threads/{thread_id}/items", query_string={"limit": 50, "order": "desc"})
        assert response.status_code == 200 and len(response.get_json()["data"]) == 50

    def append():
        assert alice.post(f"/threads/{thread_id}/items", json={"role": "user", "content": "x"}).status_code == 201

    def next_page():
        response = alice.get(f"/threads/{thread_id}/items", query_string={"limit": 10, "after": first_id})
        assert response.status_code == 200

    first_id = alice.get(f"/threads/{thread_id}/items", query_string={"limit": 1}).get_json()["data"][0]["id"]
    assert pg_proxy.round_trips_per_call(read) == 1, pg_proxy.statements[:4]
    assert pg_proxy.round_trips_per_call(append) == 1
    assert pg_proxy.round_trips_per_call(next_page) == 1
    assert pg_proxy.round_trips_per_call(lambda: alice.get("/threads")) == 1
    assert pg_proxy.round_trips_per_call(lambda: alice.get(f"/threads/{thread_id}")) == 1
    assert pg_proxy.round_trips_per_call(lambda: alice.patch(f"/threads/{thread_id}", json={"title": "t"})) == 1
    assert pg_proxy.round_trips_per_call(lambda: alice.post("/threads", json={})) == 1


def test_a_search_page_costs_one_round_trip(pg_proxy, alice):
    thread_id = alice.new_thread(title="search")["id"]
    for n in range(30):
        alice.new_item(thread_id, f"round trip search words {n}")
    first = alice.get("/search", query_string={"q": "search words", "limit": 10}).get_json()
    assert len(first["data"]) == 10 and first["after"]

    def page(after=None):
        query = {"q": "search words", "limit": 10, **({"after": after} if after else {})}
        response = alice.get("/search", query_string=query)
        assert response.status_code == 200 and len(response.get_json()["data"]) == 10

    assert pg_proxy.round_trips_per_call(page) == 1
    assert pg_proxy.round_trips_per_call(lambda: page(first["after"])) == 1  # the cursor needs no lookup


def test_a_re_sent_item_costs_one_round_trip_and_takes_no_seq(pg_proxy, alice):
    thread_id = alice.new_thread()["id"]
    body = {"id": "client-1", "role": "user", "content": "once"}
    assert alice.post(f"/threads/{thread_id}/items", json=body).status_code == 201
    pg_proxy.reset()
    again = alice.post(f"/threads/{thread_id}/items", json=body)
    assert again.status_code == 200 and again.get_json()["seq"] == 1
    assert pg_proxy.round_trips == 1  # the body is compared in the same statement
    conflict = alice.post(f"/threads/{thread_id}/items", json={**body, "content": "other"})
    assert conflict.status_code == 409
    assert alice.new_item(thread_id, "next")["seq"] == 2  # neither re-send took a seq


def test_only_a_connection_idle_past_the_threshold_is_pinged(pg_proxy, alice):
    thread_id = alice.new_thread()["id"]
    alice.get(f"/threads/{thread_id}")
    pg_proxy.reset()
    alice.get(f"/threads/{thread_id}")
    assert pg_proxy.round_trips == 1  # used a moment ago: no ping

    time.sleep(PING_IDLE_SECONDS + 0.2)
    pg_proxy.reset()
    assert alice.get(f"/threads/{thread_id}").status_code == 200
    assert pg_proxy.messages[b"Q"] == 2  # SELECT 1, then the read

    pg_proxy.reset()
    alice.get(f"/threads/{thread_id}")
    assert pg_proxy.round_trips == 1


def test_an_append_whose_answer_is_lost_is_stored_once_without_a_gap(pg_proxy, alice):
    thread_id = alice.new_thread()["id"]
    alice.new_item(thread_id, "first")

    pg_proxy.lose_next_answer()  # the INSERT commits on the server; the app sees a dead connection
    response = alice.post(f"/threads/{thread_id}/items", json={"role": "user", "content": "lost answer"})

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["seq"] == 2
    items = alice.get(f"/threads/{thread_id}/items").get_json()["data"]
    assert [(item["seq"], item["content"]) for item in items] == [(1, "first"), (2, "lost answer")]
    assert alice.new_item(thread_id, "after")["seq"] == 3


def test_a_client_chosen_id_whose_answer_is_lost_is_stored_once(pg_proxy, alice):
    thread_id = alice.new_thread()["id"]
    body = {"id": "lost-1", "role": "user", "content": "mine"}
    pg_proxy.lose_next_answer()
    response = alice.post(f"/threads/{thread_id}/items", json=body)
    assert response.status_code == 201  # created by this request's own first attempt
    assert alice.post(f"/threads/{thread_id}/items", json=body).status_code == 200
    assert [item["id"] for item in alice.get(f"/threads/{thread_id}/items").get_json()["data"]] == ["lost-1"]


def test_a_new_thread_whose_answer_is_lost_is_created_once(pg_proxy, alice):
    before = len(alice.get("/threads", query_string={"limit": 100}).get_json()["data"])
    pg_proxy.lose_next_answer()
    response = alice.post("/threads", json={"title": "lost answer"})
    assert response.status_code == 201, response.get_data(as_text=True)
    threads = alice.get("/threads", query_string={"limit": 100}).get_json()["data"]
    assert len(threads) == before + 1
    assert threads[0]["id"] == response.get_json()["id"]


def test_a_read_whose_answer_is_lost_is_retried(pg_proxy, alice):
    thread_id = alice.new_thread(title="still here")["id"]
    pg_proxy.lose_next_answer()
    response = alice.get(f"/threads/{thread_id}")
    assert response.status_code == 200 and response.get_json()["title"] == "still here"


def test_a_delete_whose_answer_is_lost_succeeds(pg_proxy, alice):
    thread_id = alice.new_thread()["id"]
    pg_proxy.lose_next_answer()
    assert alice.delete(f"/threads/{thread_id}").status_code == 204
    assert alice.get(f"/threads/{thread_id}").status_code == 404
    assert alice.delete(f"/threads/{thread_id}").status_code == 404


def test_two_sends_of_one_new_id_racing_leave_no_gap(pg_proxy, app):
    """Both calls start before either inserts (the thread row is held locked meanwhile): the
    second finds the first one's item under the lock, and takes no seq."""
    with app.app_context():
        store = chat_store()
        user_id = AccountStore(db.session).create_user(f"race-{secrets.token_hex(3)}@example.com", "correct horse battery").id
        thread = store.create_thread(user_id)
        db.session.remove()
    holder = psycopg2.connect(pg_proxy.database_url)
    # pg_stat_activity is read on an autocommit connection of its own: inside the holder's
    # transaction it would be a snapshot frozen at its first read.
    watcher = psycopg2.connect(pg_proxy.database_url)
    watcher.autocommit = True
    results: list = []

    def send() -> None:
        try:
            with app.app_context():
                results.append(chat_store().add_item(user_id, thread.id, role="user", content="same", item_id="race-1"))
                db.session.remove()
        except BaseException as exc:  # reported by the assertions below
            results.append(exc)

    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT 1 FROM threads WHERE id = %s FOR UPDATE", (thread.id,))
        senders = [threading.Thread(target=send) for _ in range(2)]
        for sender in senders:
            sender.start()
        deadline = time.monotonic() + 10
        with watcher.cursor() as cursor:
            while _waiting_on_locks(cursor) < 2:  # both statements started, both blocked on the row
                assert time.monotonic() < deadline, "the two appends never queued on the thread row"
                time.sleep(0.05)
        holder.commit()
        for sender in senders:
            sender.join(10)
    finally:
        holder.close()
        watcher.close()

    assert sorted(created for _, created in results) == [False, True]
    assert {item.seq for item, _ in results} == {1}
    with app.app_context():
        following, _ = chat_store().add_item(user_id, thread.id, role="user", content="next")
        assert following.seq == 2  # no gap
        db.session.remove()


def _waiting_on_locks(cursor) -> int:
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return cursor.fetchone()[0]


"""The chat store on SQLite and PostgreSQL: ordering, pagination, isolation, idempotency, cascades."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from chatapp.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from chatapp.extensions import db
from chatapp.services import chat_store
from chatapp.store import ChatStore


@pytest.fixture
def store(app_context) -> ChatStore:
    return chat_store()


def test_thread_ids_are_prefixed_strings(store, user_id):
    thread = store.create_thread(user_id, title="Hello")
    assert thread.id.startswith("thr_") and len(thread.id) == 36
    assert thread.title == "Hello" and thread.metadata == {}
    assert thread.created_at.tzinfo is not None
    assert store.get_thread(user_id, thread.id).id == thread.id


def test_external_thread_id_up_to_64_chars(store, user_id):
    long_id = "t" * 64
    assert store.create_thread(user_id, thread_id=long_id).id == long_id
    with pytest.raises(InvalidRequest):
        store.create_thread(user_id, thread_id="t" * 65)
    with pytest.raises(Conflict):
        store.create_thread(user_id, thread_id=long_id)


def test_items_get_seq_in_order_and_bump_thread(store, user_id):
    thread = store.create_thread(user_id)
    first, created = store.add_item(user_id, thread.id, role="user", content="What is Neon?")
    assert created and first.seq == 1 and first.id.startswith("msg_")
    second, _ = store.add_item(user_id, thread.id, role="assistant", content="Serverless Postgres.")
    tool, _ = store.add_item(user_id, thread.id, type="tool_call", role="tool", content={"name": "search", "args": [1]})
    assert (second.seq, tool.seq) == (2, 3)
    assert tool.id.startswith("tc_") and tool.content == {"name": "search", "args": [1]}
    reloaded = store.get_thread(user_id, thread.id)
    assert reloaded.updated_at >= thread.updated_at
    assert reloaded.title == "What is Neon?"  # taken from the first user message


def test_title_from_first_message_only_until_renamed(store, user_id):
    thread = store.create_thread(user_id)
    store.update_thread(user_id, thread.id, title="Mine")
    store.add_item(user_id, thread.id, role="user", content="something else")
    assert store.get_thread(user_id, thread.id).title == "Mine"


def test_message_validation(store, user_id):
    thread = store.create_thread(user_id)
    for kwargs, field in (
        ({"role": "user", "content": "  "}, "content"),
        ({"role": "user", "content": 5}, "content"),
        ({"role": "robot", "content": "hi"}, "role"),
        ({"role": None, "content": "hi"}, "role"),
        ({"role": "user", "content": "x" * 32_001}, "content"),
        ({"role": "user", "content": "hi", "metadata": []}, "metadata"),
        ({"role": "user", "content": "hi", "type": "Bad Type"}, "type"),
    ):
        with pytest.raises(InvalidRequest) as info:
            store.add_item(user_id, thread.id, **kwargs)
        assert info.value.details["field"] == field
    assert store.list_items(user_id, thread.id).data == []
    assert store.get_thread(user_id, thread.id).last_seq == 0


def test_retry_with_same_client_id_never_duplicates(store, user_id):
    thread = store.create_thread(user_id)
    item, created = store.add_item(user_id, thread.id, role="user", content="once", item_id="client-1")
    again, created_again = store.add_item(user_id, thread.id, role="user", content="once", item_id="client-1")
    assert created and not created_again
    assert again.id == item.id and again.seq == item.seq
    with pytest.raises(Conflict):
        store.add_item(user_id, thread.id, role="user", content="changed", item_id="client-1")
    nxt, _ = store.add_item(user_id, thread.id, role="user", content="next")
    assert nxt.seq == 2  # the retries did not consume a seq
    assert [i.id for i in store.list_items(user_id, thread.id).data] == ["client-1", nxt.id]


def test_count_messages_by_role_is_scoped_to_the_owner(store, user_id, other_user_id):
    thread = store.create_thread(user_id)
    assert store.count_messages(user_id, thread.id) == {}
    store.add_item(user_id, thread.id, role="user", content="one")
    store.add_item(user_id, thread.id, role="assistant", content="two")
    store.add_item(user_id, thread.id, role="user", content="three")
    store.add_item(user_id, thread.id, type="tool_call", content={"name": "search"})
    assert store.count_messages(user_id, thread.id) == {"user": 2, "assistant": 1}
    with pytest.raises(NotFound):
        store.count_messages(other_user_id, thread.id)


def test_item_pages_walk_both_orders_without_gaps(store, user_id):
    thread = store.create_thread(user_id)
    ids = [store.add_item(user_id, thread.id, role="user", content=f"m{n}")[0].id for n in range(23)]
    for order, expected in (("asc", ids), ("desc", ids[::-1])):
        seen, after = [], None
        while True:
            page = store.list_items(user_id, thread.id, limit=5, after=after, order=order)
            seen += [i.id for i in page.data]
            if not page.has_more:
                assert page.after is None
                break
            assert page.after == page.data[-1].id
            after = page.after
        assert seen == expected


def test_json_pages_match_the_record_pages(store, user_id, other_user_id):
    """list_items_json (built by PostgreSQL on PostgreSQL) answers what list_items + to_dict would."""
    thread = store.create_thread(user_id)
    store.add_item(user_id, thread.id, role="user", content='Quotes " and \\ and ünïcode ✓')
    store.add_item(user_id, thread.id, type="tool_call", role="tool", content={"b": [1, 2.5, None], "a": {"x": True}})
    store.add_item(user_id, thread.id, role="assistant", content="whole second", metadata={"k": "v"},
                   created_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    store.add_item(user_id, thread.id, role="assistant", content="offset", created_at=datetime(
        2024, 5, 6, 9, 8, 9, 120, tzinfo=timezone(timedelta(hours=2))))
    for n in range(3):
        store.add_item(user_id, thread.id, role="user", content=f"m{n}")
    for order in ("asc", "desc"):
        after = None
        while True:
            records = store.list_items(user_id, thread.id, limit=3, after=after, order=order)
            expected = {"data": [r.to_dict() for r in records.data], "has_more": records.has_more, "after": records.after}
            body = store.list_items_json(user_id, thread.id, limit=3, after=after, order=order)
            assert isinstance(body, bytes)
            assert json.loads(body) == expected
            if not records.has_more:
                break
            after = records.after
    empty = store.create_thread(user_id)
    assert json.loads(store.list_items_json(user_id, empty.id)) == {"data": [], "has_more": False, "after": None}
    with pytest.raises(NotFound):
        store.list_items_json(other_user_id, thread.id)
    with pytest.raises(InvalidRequest):
        store.list_items_json(user_id, thread.id, after="msg_nope")
    with pytest.raises(InvalidRequest):
        store.list_items_json(user_id, thread.id, limit=0)


def test_unknown_cursor_is_invalid_not_empty(store, user_id):
    thread = store.create_thread(user_id)
    store.add_item(user_id, thread.id, role="user", content="hi")
    with pytest.raises(InvalidRequest) as info:
        store.list_items(user_id, thread.id, after="msg_nope")
    assert info.value.details == {"field": "after"}
    with pytest.raises(InvalidRequest):
        store.list_threads(user_id, after="thr_nope")
    with pytest.raises(InvalidRequest):
        store.list_items(user_id, thread.id, order="sideways")
    with pytest.raises(InvalidRequest):
        store.list_items(user_id, thread.id, limit=0)


def test_thread_list_most_recent_first_with_keyset(store, user_id):
    made = [store.create_thread(user_id, title=f"t{n}") for n in range(7)]
    store.add_item(user_id, made[2].id, role="user", content="bump")  # t2 becomes most recent
    seen, after = [], None
    while True:
        page = store.list_threads(user_id, limit=3, after=after)
        seen += [t.id for t in page.data]
        if not page.has_more:
            break
        after = page.after
    assert seen[0] == made[2].id
    assert sorted(seen) == sorted(t.id for t in made) and len(seen) == 7
    by_created = store.list_threads(user_id, limit=10, order="asc", sort="created_at").data
    assert [t.id for t in by_created] == [t.id for t in made]


def test_isolation_other_user_sees_nothing(store, user_id, other_user_id):
    thread = store.create_thread(user_id, title="private")
    item, _ = store.add_item(user_id, thread.id, role="user", content="secret")
    attachment = store.save_attachment(user_id, filename="a.txt", content_type="text/plain", content=b"x", thread_id=thread.id)
    for call in (
        lambda: store.get_thread(other_user_id, thread.id),
        lambda: store.update_thread(other_user_id, thread.id, title="hacked"),
        lambda: store.delete_thread(other_user_id, thread.id),
        lambda: store.list_items(other_user_id, thread.id),
        lambda: store.add_item(other_user_id, thread.id, role="user", content="intrude"),
        lambda: store.get_item(other_user_id, thread.id, item.id),
        lambda: store.update_item(other_user_id, thread.id, item.id, content="hacked"),
        lambda: store.delete_item(other_user_id, thread.id, item.id),
        lambda: store.save_item(other_user_id, thread.id, item.id, role="user", content="x"),
        lambda: store.get_attachment(other_user_id, attachment.id),
        lambda: store.get_attachment_content(other_user_id, attachment.id),
        lambda: store.delete_attachment(other_user_id, attachment.id),
        lambda: store.save_attachment(other_user_id, filename="b", content_type="text/plain", thread_id=thread.id),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(Conflict):  # the id is taken; the other user's upsert must not overwrite it
        store.save_thread(other_user_id, thread.id, title="mine now", metadata={})
    assert store.list_threads(other_user_id).data == []
    assert store.get_thread(user_id, thread.id).title == "private"
    assert store.get_item(user_id, thread.id, item.id).content == "secret"


def test_upserts_keep_seq_and_created_at(store, user_id):
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    thread = store.save_thread(user_id, "thr_external", title=None, metadata={"a": 1}, created_at=when)
    assert thread.created_at == when and thread.title is None
    thread = store.save_thread(user_id, "thr_external", title="Named", metadata={"a": 2})
    assert (thread.title, thread.metadata, thread.created_at) == ("Named", {"a": 2}, when)
    saved = store.save_item(user_id, thread.id, "itm_1", type="widget", content={"v": 1}, created_at=when)
    assert saved.seq == 1 and saved.created_at == when
    store.add_item(user_id, thread.id, role="user", content="later")
    saved = store.save_item(user_id, thread.id, "itm_1", type="widget", content={"v": 2}, created_at=when)
    assert saved.seq == 1 and saved.content == {"v": 2}
    assert [i.seq for i in store.list_items(user_id, thread.id).data] == [1, 2]


def test_update_and_delete_item(store, user_id):
    thread = store.create_thread(user_id)
    item, _ = store.add_item(user_id, thread.id, role="assistant", content="draft")
    updated = store.update_item(user_id, thread.id, item.id, content="final", metadata={"status": "done"})
    assert (updated.content, updated.metadata, updated.seq) == ("final", {"status": "done"}, item.seq)
    with pytest.raises(InvalidRequest):
        store.update_item(user_id, thread.id, item.id, content="")
    store.delete_item(user_id, thread.id, item.id)
    with pytest.raises(NotFound):
        store.get_item(user_id, thread.id, item.id)
    with pytest.raises(NotFound):
        store.delete_item(user_id, thread.id, item.id)
    again, _ = store.add_item(user_id, thread.id, role="user", content="after delete")
    assert again.seq == 2  # seqs are never reused


def test_delete_thread_cascades(store, user_id, app):
    thread = store.create_thread(user_id)
    item, _ = store.add_item(user_id, thread.id, role="user", content="bye")
    attachment = store.save_attachment(user_id, filename="f.bin", content_type="application/octet-stream", content=b"\x00\x01", thread_id=thread.id)
    loose = store.save_attachment(user_id, filename="g.bin", content_type="application/octet-stream", content=b"\x02")
    store.delete_thread(user_id, thread.id)
    with pytest.raises(NotFound):
        store.get_thread(user_id, thread.id)
    with pytest.raises(NotFound):
        store.get_attachment(user_id, attachment.id)
    from chatapp.models import ThreadItem

    assert db.session.get(ThreadItem, (thread.id, item.id)) is None
    assert store.get_attachment_content(user_id, loose.id)[1] == b"\x02"


def test_attachments_round_trip_and_limit(store, user_id):
    record = store.save_attachment(user_id, filename="notes.md", content_type="text/markdown", content=b"# hi", metadata={"k": "v"})
    assert record.id.startswith("att_") and record.size == 4
    meta, data = store.get_attachment_content(user_id, record.id)
    assert (meta.filename, meta.content_type, data, meta.metadata) == ("notes.md", "text/markdown", b"# hi", {"k": "v"})
    small = ChatStore(store.session, max_attachment_bytes=3)
    with pytest.raises(PayloadTooLarge):
        small.save_attachment(user_id, filename="big", content_type="text/plain", content=b"1234")
    store.delete_attachment(user_id, record.id)
    with pytest.raises(NotFound):
        store.get_attachment(user_id, record.id)


def test_created_at_ties_do_not_affect_order(store, user_id):
    thread = store.create_thread(user_id)
    same = datetime.now(UTC) - timedelta(days=1)
    ids = [store.add_item(user_id, thread.id, role="user", content=f"{n}", created_at=same)[0].id for n in range(5)]
    assert [i.id for i in store.list_items(user_id, thread.id).data] == ids


def test_concurrent_appends_keep_a_gapless_sequence(app, user_id):
    """8 workers append 100 items each to one thread: seq is exactly 1..800."""
    with app.app_context():
        thread = chat_store().create_thread(user_id)
        db.session.remove()
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            with app.app_context():
                store = chat_store()
                barrier.wait()
                for k in range(100):
                    store.add_item(user_id, thread.id, role="user", content=f"w{n}-{k}", item_id=f"w{n}-{k}")
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    with app.app_context():
        store = chat_store()
        everything = list(store.iter_items(user_id, thread.id))
        assert [i.seq for i in everything] == list(range(1, 801))
        assert len({i.id for i in everything}) == 800
        # each worker's own items stay in the order it appended them
        for n in range(8):
            mine = [int(i.id.split("-")[1]) for i in everything if i.id.startswith(f"w{n}-")]
            assert mine == list(range(100))
        assert store.get_thread(user_id, thread.id).last_seq == 800


def test_racing_re_sends_of_the_same_ids_store_each_once_and_page_exactly(app, user_id):
    """4 workers send the same 60 ids at once (the same bodies): each id is stored once, exactly
    one send of each is `created`, the seqs have no gap, and keyset pages of any size walk the
    items in seq order with no skip and no repeat."""
    with app.app_context():
        thread = chat_store().create_thread(user_id)
        db.session.remove()
    ids = [f"same-{k}" for k in range(60)]
    created: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            with app.app_context():
                store = chat_store()
                barrier.wait()
                for item_id in ids:
                    item, was_created = store.add_item(user_id, thread.id, role="user", content=item_id, item_id=item_id)
                    assert (item.id, item.content) == (item_id, item_id)
                    if was_created:
                        with lock:
                            created.append(item_id)
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert sorted(created) == sorted(ids)  # one `created` per id, whoever won
    with app.app_context():
        store = chat_store()
        everything = list(store.iter_items(user_id, thread.id))
        seqs = [i.seq for i in everything]
        assert sorted(i.id for i in everything) == sorted(ids)
        assert seqs == list(range(1, 61))
        for size in (1, 7, 60):
            walked, after = [], None
            while True:
                page = store.list_items(user_id, thread.id, limit=size, after=after)
                walked += [i.id for i in page.data]
                if not page.has_more:
                    break
                after = page.after
            assert walked == [i.id for i in everything]
        next_item, _ = store.add_item(user_id, thread.id, role="user", content="after the race")
        assert next_item.seq == 61


def test_a_unit_of_work_cannot_start_inside_a_self_contained_call(store, backend, user_id):
    """On PostgreSQL a self-contained call runs on an autocommit connection of its own: a unit
    started inside it would not hold its statements, so it is refused. SQLite runs the call on
    the session, where a unit simply joins."""
    from chatapp.store.transactions import run, transaction

    thread = store.create_thread(user_id)

    def rename_in_a_unit() -> None:
        with transaction(store.session):
            store.update_thread(user_id, thread.id, title="renamed")

    if backend == "postgresql":
        with pytest.raises(RuntimeError, match="unit of work cannot start"):
            run(store.session, rename_in_a_unit, write=True, retry=False)
        assert store.get_thread(user_id, thread.id).title is None
    else:
        run(store.session, rename_in_a_unit, write=True, retry=False)
        assert store.get_thread(user_id, thread.id).title == "renamed"


def test_self_contained_calls_make_no_orm_session_on_postgresql(store, backend, user_id):
    """A request whose store calls are all self-contained needs no ORM Session on PostgreSQL: each
    call takes a pooled connection of its own, found without making one. Once the caller opens a
    transaction on the session, a call joins it (and a write commits it, as always). SQLite runs
    every call on the session."""
    from chatapp.store.records import threads

    db.session.remove()
    thread = store.create_thread(user_id)
    other = store.create_thread(user_id)
    store.add_item(user_id, thread.id, role="user", content="hello")
    assert [item.content for item in store.list_items(user_id, thread.id).data] == ["hello"]
    assert db.session.registry.has() is (backend == "sqlite")

    # The caller's own transaction, with a change of its own: the store's write joins and commits it.
    db.session.execute(sa.update(threads).where(threads.c.id == other.id).values(title="set by the caller"))
    store.add_item(user_id, thread.id, role="user", content="in the caller's transaction")
    db.session.remove()  # would roll back what was not committed
    assert store.get_thread(user_id, other.id).title == "set by the caller"
    assert [item.content for item in store.list_items(user_id, thread.id).data] == [
        "hello", "in the caller's transaction"
    ]

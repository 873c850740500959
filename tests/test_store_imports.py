"""The store's import methods on SQLite and PostgreSQL: import_thread, append_items, import_attachment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatapp.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from chatapp.services import chat_store
from chatapp.store import ChatStore, NewItem

WHEN = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(app_context) -> ChatStore:
    return chat_store()


def item(item_id: str, text: str = "hi", **fields) -> NewItem:
    return NewItem(**{"id": item_id, "role": "user", "content": text, "created_at": WHEN, **fields})


def test_import_thread_keeps_times_and_finds_its_own_thread_again(store, user_id, other_user_id):
    thread, created = store.import_thread(
        user_id, thread_id="thr_old", title="Old", metadata={"a": 1}, created_at=WHEN, updated_at=WHEN + timedelta(days=1)
    )
    assert created and (thread.created_at, thread.updated_at, thread.last_seq) == (WHEN, WHEN + timedelta(days=1), 0)
    again, created = store.import_thread(user_id, thread_id="thr_old", title="Other", metadata={}, created_at=WHEN)
    assert not created and again.title == "Old"  # left as it was
    with pytest.raises(Conflict):
        store.import_thread(other_user_id, thread_id="thr_old", title=None, metadata={}, created_at=WHEN)


def test_append_items_in_bulk_compares_ids_already_there(store, user_id):
    thread, _ = store.import_thread(user_id, thread_id="thr_bulk", title=None, metadata={}, created_at=WHEN)
    first = store.append_items(user_id, thread.id, [item("a"), item("b"), item("c", type="note", role=None)])
    assert (first.appended, first.present, first.conflicts, first.last_seq) == (3, 0, [], 3)
    second = store.append_items(user_id, thread.id, [item("a"), item("b", "changed"), item("d")], updated_at=WHEN)
    assert (second.appended, second.present, second.conflicts, second.last_seq) == (1, 1, ["b"], 4)
    stored = store.list_items(user_id, thread.id).data
    assert [(i.id, i.seq, i.content) for i in stored] == [("a", 1, "hi"), ("b", 2, "hi"), ("c", 3, "hi"), ("d", 4, "hi")]
    assert store.get_thread(user_id, thread.id).updated_at == WHEN
    assert store.add_item(user_id, thread.id, role="user", content="next")[0].seq == 5


def test_given_seqs_are_kept_and_must_increase(store, user_id):
    thread, _ = store.import_thread(user_id, thread_id="thr_seq", title=None, metadata={}, created_at=WHEN)
    store.append_items(user_id, thread.id, [item("a", seq=2), item("b", seq=7)], reserve_up_to=9)
    assert [i.seq for i in store.list_items(user_id, thread.id).data] == [2, 7]
    assert store.get_thread(user_id, thread.id).last_seq == 9
    with pytest.raises(InvalidRequest) as info:
        store.append_items(user_id, thread.id, [item("c", seq=9)])
    assert info.value.details["field"] == "items.0.seq"


def test_a_bad_item_appends_nothing(store, user_id, other_user_id):
    thread, _ = store.import_thread(user_id, thread_id="thr_bad", title=None, metadata={}, created_at=WHEN)
    for bad, field in (
        ([item("a"), item("b", "")], "items.1.content"),
        ([item("a"), item("a")], "items.1.id"),
        ([item("a"), item("b", "nul \x00")], "items.1.content"),
        ([item("a"), NewItem(id="has space", content="x", role="user", created_at=WHEN)], "items.1.id"),
        ([item("a"), NewItem(id="b", content="x", role=None, created_at=WHEN)], "items.1.role"),
    ):
        with pytest.raises(InvalidRequest) as info:
            store.append_items(user_id, thread.id, bad)
        assert info.value.details["field"] == field
    assert store.list_items(user_id, thread.id).data == []
    with pytest.raises(NotFound):
        store.append_items(other_user_id, thread.id, [item("x")])
    assert store.get_thread(user_id, thread.id).last_seq == 0


def test_a_unit_of_work_rolls_the_thread_and_its_items_back_together(store, user_id):
    with pytest.raises(Conflict):
        with store.transaction():
            thread, _ = store.import_thread(user_id, thread_id="thr_unit", title=None, metadata={}, created_at=WHEN)
            store.append_items(user_id, thread.id, [item("a"), item("b")])
            raise Conflict("something later failed")
    with pytest.raises(NotFound):
        store.get_thread(user_id, "thr_unit")


def test_import_attachment_inserts_once_and_never_overwrites(store, user_id, other_user_id):
    thread, _ = store.import_thread(user_id, thread_id="thr_att", title=None, metadata={}, created_at=WHEN)
    record, created = store.import_attachment(
        user_id, attachment_id="att_kept", thread_id=thread.id, filename="a.txt", content_type="text/plain",
        content=b"abc", metadata={"k": 1}, created_at=WHEN,
    )
    assert created and (record.size, record.created_at) == (3, WHEN)
    again, created = store.import_attachment(
        user_id, attachment_id="att_kept", thread_id=thread.id, filename="b.txt", content_type="text/plain",
        content=b"other", metadata={}, created_at=WHEN,
    )
    assert not created and again.filename == "a.txt"
    with pytest.raises(Conflict):
        store.import_attachment(other_user_id, attachment_id="att_kept", thread_id=None, filename="c", content_type="text/plain",
                                content=b"", metadata={}, created_at=WHEN)
    with pytest.raises(NotFound):
        store.import_attachment(other_user_id, attachment_id="att_x", thread_id=thread.id, filename="c", content_type="text/plain",
                                content=b"", metadata={}, created_at=WHEN)
    small = ChatStore(store.session, max_attachment_bytes=2)
    with pytest.raises(PayloadTooLarge):
        small.import_attachment(user_id, attachment_id="att_big", thread_id=None, filename="c", content_type="text/plain",
                                content=b"abc", metadata={}, created_at=WHEN)

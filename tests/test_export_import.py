"""Export (JSON, Markdown, ZIP; streamed) and import (one unit of work) on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import copy
import io
import json
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from chatapp.extensions import db
from chatapp.services import chat_store
from chatapp.store import ItemRecord, NewItem, ThreadRecord
from chatapp.transfer.document import (
    ATTACHMENT_FIELDS,
    ITEM_FIELDS,
    THREAD_FIELDS,
    AttachmentPart,
    ItemPart,
    ThreadPart,
)
from support.api_client import ApiClient, assert_error

APP_CONFIG = {"MAX_CONTENT_LENGTH": 256 * 1024, "MAX_IMPORT_BYTES": 4 * 1024 * 1024}


@pytest.fixture(scope="module")
def alice(app) -> ApiClient:
    return ApiClient(app)


@pytest.fixture(scope="module")
def bob(app) -> ApiClient:
    return ApiClient(app)


def upload(client: ApiClient, thread_id: str, name: str, data: bytes) -> dict:
    form = {"file": (io.BytesIO(data), name, "text/plain"), "thread_id": thread_id}
    response = client.post("/attachments", data=form, content_type="multipart/form-data")
    assert response.status_code == 201
    return response.get_json()


def rich_thread(client: ApiClient) -> dict:
    """A thread with every kind of item, a gap in its seqs, metadata and an attachment."""
    thread = client.new_thread(title="Goa trip / गोवा", metadata={"tags": ["travel"], "n": 1.5})
    client.new_item(thread["id"], "Goa mein kya dekhein? कौन से बीच?", metadata={"lang": "hi"})
    deleted = client.new_item(thread["id"], "to be deleted")
    client.new_item(thread["id"], "Baga beach aur Fort Aguada.", role="assistant", metadata={"usage": {"total_tokens": 12}})
    client.post(f"/threads/{thread['id']}/items", json={"type": "tool_call", "role": "tool", "content": {"name": "map", "args": [1, None]}})
    assert client.delete(f"/threads/{thread['id']}/items/{deleted['id']}").status_code == 204
    upload(client, thread["id"], "plan.txt", b"day 1: beach\n")
    return client.get(f"/threads/{thread['id']}").get_json()


def without_ids(document: dict) -> dict:
    """The document with every id replaced by what it points at: parents and the leaf by the
    item's position in the document, so the tree must survive an import with new ids."""
    document = copy.deepcopy(document)
    position = {item["id"]: index for index, item in enumerate(document["items"])}
    for item in document["items"]:
        item["parent_id"] = position.get(item["parent_id"], item["parent_id"])
    document["thread"]["leaf_id"] = position.get(document["thread"]["leaf_id"], document["thread"]["leaf_id"])
    for part in [document["thread"], *document["items"], *document["attachments"]]:
        part.pop("id")
    return document


def test_json_export_holds_the_thread_its_items_in_order_and_attachments(alice):
    thread = rich_thread(alice)
    response = alice.get(f"/threads/{thread['id']}/export")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{thread["id"]}.json"'
    document = response.get_json()
    assert (document["format"], document["version"]) == ("chatapp.thread", 1)
    assert document["thread"] == thread
    items = alice.get(f"/threads/{thread['id']}/items").get_json()["data"]
    assert document["items"] == [{name: item[name] for name in ITEM_FIELDS} for item in items]
    assert [item["seq"] for item in document["items"]] == [1, 3, 4]
    assert [(i["type"], i["role"]) for i in document["items"]] == [("message", "user"), ("message", "assistant"), ("tool_call", "tool")]
    [attachment] = document["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("plan.txt", 13) and "content_base64" not in attachment
    with_bytes = alice.get(f"/threads/{thread['id']}/export", query_string={"include": "attachments"}).get_json()
    assert base64.b64decode(with_bytes["attachments"][0]["content_base64"]) == b"day 1: beach\n"


def test_document_fields_follow_the_records():
    assert set(ThreadPart.model_fields) == set(THREAD_FIELDS) == set(ThreadRecord.field_names())
    assert set(ItemPart.model_fields) == set(ITEM_FIELDS) == set(ItemRecord.field_names()) - {"thread_id"}
    assert set(AttachmentPart.model_fields) == set(ATTACHMENT_FIELDS) | {"content_base64"}


def test_markdown_export_is_readable(alice):
    thread = rich_thread(alice)
    response = alice.get(f"/threads/{thread['id']}/export", query_string={"format": "markdown"})
    assert response.status_code == 200 and response.mimetype == "text/markdown"
    text = response.get_data(as_text=True)
    assert text.startswith("# Goa trip / गोवा\n")
    assert "## user · " in text and "Goa mein kya dekhein? कौन से बीच?" in text
    assert "## assistant · " in text and "Baga beach aur Fort Aguada." in text
    assert '## tool_call (tool) · ' in text and '"name": "map"' in text and "```json" in text
    assert "- plan.txt (text/plain, 13 bytes)" in text and "to be deleted" not in text
    both = alice.get(f"/threads/{thread['id']}/export", query_string={"format": "markdown", "include": "attachments"})
    assert_error(both, 400, "invalid_request", "include")


def test_export_import_export_gives_the_same_document_apart_from_ids(alice):
    thread = rich_thread(alice)
    exported = alice.get(f"/threads/{thread['id']}/export", query_string={"include": "attachments"}).get_json()
    response = alice.post("/threads/import", json=exported)
    assert response.status_code == 201, response.get_data(as_text=True)
    result = response.get_json()
    assert (result["items"], result["attachments"], result["attachments_without_content"]) == (3, 1, [])
    copy_id = result["thread"]["id"]
    assert copy_id != thread["id"]
    again = alice.get(f"/threads/{copy_id}/export", query_string={"include": "attachments"}).get_json()
    assert without_ids(again) == without_ids(exported)
    assert {i["id"] for i in again["items"]}.isdisjoint(i["id"] for i in exported["items"])
    appended = alice.new_item(copy_id, "after the import")
    assert appended["seq"] == 5  # the counter came along: seqs are never reused


def test_keep_ids_keeps_them_and_an_existing_id_is_a_conflict(alice, bob):
    thread = rich_thread(alice)
    exported = alice.get(f"/threads/{thread['id']}/export", query_string={"include": "attachments"}).get_json()
    assert_error(alice.post("/threads/import", query_string={"keep_ids": "true"}, json=exported), 409, "conflict")
    assert_error(bob.post("/threads/import", query_string={"keep_ids": "true"}, json=exported), 409, "conflict")
    alice.delete(f"/threads/{thread['id']}")
    restored = alice.post("/threads/import", query_string={"keep_ids": "true"}, json=exported)
    assert restored.status_code == 201
    again = alice.get(f"/threads/{thread['id']}/export", query_string={"include": "attachments"}).get_json()
    assert again == exported  # ids included


def test_a_later_conflict_rolls_the_whole_import_back(alice, bob):
    """The thread and its items are written before the attachment id turns out to be taken."""
    thread = rich_thread(alice)
    exported = alice.get(f"/threads/{thread['id']}/export", query_string={"include": "attachments"}).get_json()
    exported["thread"]["id"] = "thr_fresh_for_bob"
    before = len(bob.get("/threads").get_json()["data"])
    assert_error(bob.post("/threads/import", query_string={"keep_ids": "true"}, json=exported), 409, "conflict")
    assert len(bob.get("/threads").get_json()["data"]) == before
    assert_error(bob.get("/threads/thr_fresh_for_bob"), 404, "not_found")


def _document(**changes) -> dict:
    document = {
        "format": "chatapp.thread",
        "version": 1,
        "thread": {"id": "thr_doc", "title": "t", "metadata": {}, "created_at": "2025-01-01T00:00:00+00:00"},
        "items": [
            {"id": "m1", "seq": 1, "role": "user", "content": "hi", "created_at": "2025-01-01T00:00:01+00:00"},
            {"id": "m2", "seq": 2, "role": "assistant", "content": "hello", "created_at": "2025-01-01T00:00:02+00:00"},
        ],
        "attachments": [],
    }
    for path, value in changes.items():
        target = document
        *parents, last = path.split("__")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return document


_DELETE = object()
_BYTES = base64.b64encode(b"abc").decode()


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"format": "other"}, "format"),
        ({"version": 2}, "version"),
        ({"extra": 1}, "extra"),
        ({"thread": _DELETE}, "thread"),
        ({"thread__created_at": "2025-01-01T00:00:00"}, "thread.created_at"),  # no time zone
        ({"thread__created_at": "0001-01-01T00:00:00+05:00"}, "thread.created_at"),  # before year 1 in UTC
        ({"thread__title": "x" * 201}, "thread.title"),
        ({"thread__last_seq": 2**63}, "thread.last_seq"),  # beyond a BIGINT
        ({"items__1__seq": 2**63}, "items.1.seq"),
        ({"items__1__content": ""}, "items.1.content"),
        ({"items__1__role": None}, "items.1.role"),
        ({"items__1__role": "robot"}, "items.1.role"),
        ({"items__1__content": "nul \u0000"}, "items.1.content"),
        ({"items__1__id": "m1"}, "items.1.id"),
        ({"items__1__seq": 1}, "items.1.seq"),
        ({"items__0__metadata": [1]}, "items.0.metadata"),
        ({"items__0__type": "Not A Type"}, "items.0.type"),
        ({"attachments": [{"id": "a1", "filename": "f", "content_type": "text/plain", "size": 3, "content_base64": "%%%"}]}, "attachments.0.content_base64"),
        ({"attachments": [{"id": "a1", "filename": "f", "content_type": "text/plain", "size": 9, "content_base64": _BYTES}]}, "attachments.0.size"),
    ],
)
def test_a_bad_document_is_400_and_imports_nothing(alice, changes, field):
    before = alice.get("/threads", query_string={"limit": 100}).get_json()["data"]
    response = alice.post("/threads/import", json=_document(**changes))
    assert_error(response, 400, "invalid_request", field)
    assert alice.get("/threads", query_string={"limit": 100}).get_json()["data"] == before


def test_a_good_hand_written_document_imports(alice):
    response = alice.post("/threads/import", json=_document(items__0=dict(_document()["items"][0], seq=None)))
    assert response.status_code == 201, response.get_data(as_text=True)
    items = alice.get(f"/threads/{response.get_json()['thread']['id']}/items").get_json()["data"]
    assert [(i["seq"], i["content"]) for i in items] == [(1, "hi"), (2, "hello")]


def test_bodies_up_to_max_import_bytes_are_accepted(alice):
    big = _document(items=[
        {"id": f"m{n}", "role": "user", "content": "x" * 1000, "created_at": "2025-01-01T00:00:01+00:00"} for n in range(400)
    ])
    assert len(json.dumps(big)) > APP_CONFIG["MAX_CONTENT_LENGTH"]
    assert alice.post("/threads/import", json=big).status_code == 201
    huge = _document(items=[
        {"id": f"m{n}", "role": "user", "content": "x" * 1000, "created_at": "2025-01-01T00:00:01+00:00"} for n in range(4200)
    ])
    assert_error(alice.post("/threads/import", json=huge), 413, "payload_too_large")


def test_exports_of_missing_or_foreign_threads_are_404(alice, bob):
    thread = alice.new_thread()
    assert_error(bob.get(f"/threads/{thread['id']}/export"), 404, "not_found")
    assert_error(alice.get("/threads/thr_missing/export"), 404, "not_found")
    assert_error(alice.get(f"/threads/{thread['id']}/export", query_string={"format": "pdf"}), 400, "invalid_request", "format")


def test_zip_export_holds_every_thread_of_the_caller_only(app, bob):
    carol = ApiClient(app)
    threads = [rich_thread(carol) for _ in range(3)]
    bob.new_thread(title="not carol's")
    response = carol.get("/export", query_string={"include": "attachments"})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="chatapp-export-')
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted(f"{t['id']}.json" for t in threads)
    for thread in threads:
        single = carol.get(f"/threads/{thread['id']}/export", query_string={"include": "attachments"}).get_json()
        assert json.loads(archive.read(f"{thread['id']}.json")) == single
    empty = ApiClient(app).get("/export")
    assert zipfile.ZipFile(io.BytesIO(empty.data)).namelist() == []


ITEMS = 20_000


def bulk_thread(app, user_id: str, thread_id: str, count: int) -> str:
    """A thread of `count` items, written in bulk."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with app.app_context():
        store = chat_store()
        thread, _ = store.import_thread(user_id, thread_id=thread_id, title=thread_id, metadata={}, created_at=start)
        store.append_items(user_id, thread.id, [
            NewItem(id=f"m{n}", role="user" if n % 2 else "assistant", content=f"message {n}: " + "lorem ipsum " * 8,
                    created_at=start + timedelta(seconds=n))
            for n in range(count)
        ])
        db.session.remove()
    return thread.id


def streamed_peak(client: ApiClient, path: str) -> tuple[int, int, int]:
    """(bytes, chunks, peak traced memory) of consuming a streamed answer chunk by chunk."""
    client.get(path).close()  # warm: statement caches, token cache
    tracemalloc.start()
    try:
        response = client.get(path, buffered=False)
        assert response.status_code == 200
        size = chunks = 0
        for chunk in response.response:
            size += len(chunk)
            chunks += 1
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return size, chunks, peak


def test_a_long_export_streams_with_flat_memory(app):
    """Memory does not grow with the thread: ten times the items, about the same peak."""
    dana = ApiClient(app)
    short = bulk_thread(app, dana.user_id, "thr_short", ITEMS // 10)
    long = bulk_thread(app, dana.user_id, "thr_long", ITEMS)
    short_size, _, short_peak = streamed_peak(dana, f"/threads/{short}/export")
    size, chunks, peak = streamed_peak(dana, f"/threads/{long}/export")
    assert size > 9 * short_size and chunks > 50
    assert peak < size / 3 and peak < 1.5 * short_peak, (size, peak, short_size, short_peak)
    zipped, zip_chunks, zip_peak = streamed_peak(dana, "/export")  # the two threads, deflated
    assert zip_chunks > 2 and zip_peak < (size + short_size) / 2, (zipped, zip_peak)
    document = dana.get(f"/threads/{long}/export").get_json()
    assert [item["seq"] for item in document["items"]] == list(range(1, ITEMS + 1))


def test_branches_survive_export_and_import(alice):
    """An edited first message makes two branches; the copy keeps the tree and the branch shown."""
    thread_id = alice.new_thread()["id"]
    first = alice.new_item(thread_id, "first version")
    alice.new_item(thread_id, "a reply to it", role="assistant")
    edited = alice.post(f"/threads/{thread_id}/items", json={"role": "user", "content": "second version", "parent_id": None})
    assert edited.status_code == 201
    alice.post(f"/threads/{thread_id}/branch", json={"item_id": first["id"]})  # show the first branch again
    exported = alice.get(f"/threads/{thread_id}/export").get_json()
    copy_id = alice.post("/threads/import", json=exported).get_json()["thread"]["id"]
    again = alice.get(f"/threads/{copy_id}/export").get_json()
    assert without_ids(again) == without_ids(exported)
    shown = alice.get(f"/threads/{copy_id}/branch", query_string={"order": "asc"}).get_json()["data"]
    assert [(i["content"], i["version"], i["versions"]) for i in shown] == [("first version", 1, 2), ("a reply to it", 1, 1)]


def test_a_document_without_parents_imports_as_one_branch(alice):
    """Documents exported before versions have no parent_id: each item follows the one before."""
    thread_id = alice.new_thread()["id"]
    for text in ("one", "two", "three"):
        alice.new_item(thread_id, text)
    exported = alice.get(f"/threads/{thread_id}/export").get_json()
    for item in exported["items"]:
        item.pop("parent_id")
    exported["thread"].pop("leaf_id")
    copy_id = alice.post("/threads/import", json=exported).get_json()["thread"]["id"]
    shown = alice.get(f"/threads/{copy_id}/branch", query_string={"order": "asc"}).get_json()["data"]
    assert [i["content"] for i in shown] == ["one", "two", "three"]
    bad = dict(exported, items=[dict(exported["items"][0], parent_id="msg_not_there")])
    assert_error(alice.post("/threads/import", json=bad), 400, "invalid_request", "items.0.parent_id")

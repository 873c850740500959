"""The API isolation matrix on SQLite and PostgreSQL: user B on every route of user A's resources."""

from __future__ import annotations

import io

import pytest

from support.api_client import ApiClient, assert_error


@pytest.fixture(scope="module")
def world(app):
    """User A with a thread, an item and an attachment; user B with a thread of their own."""
    alice, bob = ApiClient(app), ApiClient(app)
    thread = alice.new_thread(title="A's", metadata={"owner": "a"})
    item = alice.new_item(thread["id"], "A's secret", id="a-item")
    data = {"file": (io.BytesIO(b"A's bytes"), "a.txt", "text/plain"), "thread_id": thread["id"]}
    attachment = alice.post("/attachments", data=data, content_type="multipart/form-data").get_json()
    bob_thread = bob.new_thread(title="B's")
    return {"alice": alice, "bob": bob, "thread": thread, "item": item, "attachment": attachment, "bob_thread": bob_thread}


def snapshot(world) -> dict:
    alice = world["alice"]
    thread_id, attachment_id = world["thread"]["id"], world["attachment"]["id"]
    return {
        "thread": alice.get(f"/threads/{thread_id}").get_json(),
        "items": alice.get(f"/threads/{thread_id}/items").get_json(),
        "threads": alice.get("/threads").get_json(),
        "attachment": alice.get(f"/attachments/{attachment_id}").get_json(),
        "content": alice.get(f"/attachments/{attachment_id}/content").data,
    }


ROUTES = [
    ("GET", "/threads/{t}", None),
    ("PATCH", "/threads/{t}", {"title": "pwned"}),
    ("DELETE", "/threads/{t}", None),
    ("GET", "/threads/{t}/items", None),
    ("POST", "/threads/{t}/items", {"role": "user", "content": "injected"}),
    ("POST", "/threads/{t}/items", {"id": "a-item", "role": "user", "content": "A's secret"}),
    ("GET", "/threads/{t}/items/{i}", None),
    ("PATCH", "/threads/{t}/items/{i}", {"content": "pwned"}),
    ("DELETE", "/threads/{t}/items/{i}", None),
    ("GET", "/attachments/{a}", None),
    ("GET", "/attachments/{a}/content", None),
    ("DELETE", "/attachments/{a}", None),
]


@pytest.mark.parametrize("method, template, body", ROUTES)
def test_other_users_resources_answer_404_and_stay_unchanged(world, method, template, body):
    before = snapshot(world)
    path = template.format(t=world["thread"]["id"], i=world["item"]["id"], a=world["attachment"]["id"])
    response = world["bob"].request(method, path, **({"json": body} if body is not None else {}))
    assert_error(response, 404, "not_found")
    assert snapshot(world) == before


def test_bob_cannot_put_items_in_as_thread_with_his_ids_either(world):
    """A's item id under B's own thread is simply another (absent) item."""
    bob, item = world["bob"], world["item"]
    assert_error(bob.get(f"/threads/{world['bob_thread']['id']}/items/{item['id']}"), 404, "not_found")


def test_bob_cannot_attach_files_to_as_thread(world):
    before = snapshot(world)
    data = {"file": (io.BytesIO(b"x"), "b.txt", "text/plain"), "thread_id": world["thread"]["id"]}
    response = world["bob"].post("/attachments", data=data, content_type="multipart/form-data")
    assert_error(response, 404, "not_found")
    assert snapshot(world) == before


def test_thread_lists_show_only_the_callers_threads(world):
    bob_ids = [t["id"] for t in world["bob"].get("/threads").get_json()["data"]]
    assert bob_ids == [world["bob_thread"]["id"]]
    alice_ids = [t["id"] for t in world["alice"].get("/threads").get_json()["data"]]
    assert alice_ids == [world["thread"]["id"]]


def test_a_cursor_from_another_users_list_is_an_unknown_cursor(world):
    response = world["bob"].get("/threads", query_string={"after": world["thread"]["id"]})
    assert_error(response, 400, "invalid_request", "after")

"""Branches and versions in the JSON API, on SQLite and PostgreSQL, against the real local fake model
server (tests/fake_llm.py): parent_id on items and messages, GET/POST .../branch, versions,
regenerate (POST .../items/{id}/replies), retry without a pile of failures, the context that
follows the branch, clients that ignore branches, the OpenAPI document, and isolation."""

from __future__ import annotations

from typing import Any

import pytest
from test_assistant_replies import sse_events

from support.api_client import ApiClient, assert_error
from support.databases import free_port
from support.fake_llm import FakeLLM

LLM_PORT = free_port()
APP_CONFIG = {
    "ASSISTANT_BASE_URL": f"http://127.0.0.1:{LLM_PORT}/v1",
    "ASSISTANT_MODEL": "fake-model",
    "ASSISTANT_SYSTEM_PROMPT": "Be brief.",
    "ASSISTANT_TIMEOUT": "2",
}



@pytest.fixture
def alice(app, llm) -> ApiClient:
    llm.script("reply")
    return ApiClient(app)


@pytest.fixture
def bob(app) -> ApiClient:
    return ApiClient(app)


def branch(api: ApiClient, thread_id: str, **query: Any) -> list[dict[str, Any]]:
    response = api.get(f"/threads/{thread_id}/branch", query_string={"limit": 100, "order": "asc", **query})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["data"]


def say(api: ApiClient, thread_id: str, content: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/threads/{thread_id}/messages", json={"content": content, **body})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def sent_context(llm: FakeLLM) -> list[tuple[str, str]]:
    """The (role, content) pairs of the last request the model received, after the system prompt."""
    return [(message["role"], message["content"]) for message in llm.requests[-1]["body"]["messages"][1:]]


def test_items_take_a_parent_and_the_branch_lists_versions(alice):
    thread_id = alice.new_thread()["id"]
    first = alice.new_item(thread_id, "first")
    second = alice.new_item(thread_id, "second")
    assert (first["parent_id"], second["parent_id"]) == (None, first["id"])
    assert alice.get(f"/threads/{thread_id}").get_json()["leaf_id"] == second["id"]
    edit = alice.new_item(thread_id, "second, edited", parent_id=first["id"])
    root = alice.new_item(thread_id, "a new first item", parent_id=None)
    assert root["parent_id"] is None
    assert [(i["content"], i["version"], i["versions"]) for i in branch(alice, thread_id)] == [("a new first item", 2, 2)]
    selected = alice.post(f"/threads/{thread_id}/branch", json={"item_id": root["id"], "version": 1})
    assert selected.status_code == 200 and selected.get_json()["id"] == first["id"]
    assert [(i["content"], i["version"], i["versions"]) for i in branch(alice, thread_id)] == [
        ("first", 1, 2), ("second, edited", 2, 2),
    ]
    assert set(branch(alice, thread_id)[0]) == {
        "id", "thread_id", "seq", "type", "role", "content", "metadata", "created_at", "parent_id", "version", "versions",
    }
    versions = alice.get(f"/threads/{thread_id}/items/{edit['id']}/versions").get_json()
    assert [item["content"] for item in versions["data"]] == ["second", "second, edited"] and versions["has_more"] is False
    # A client that ignores branches still gets every item of every branch, by seq.
    every = alice.get(f"/threads/{thread_id}/items").get_json()["data"]
    assert [item["content"] for item in every] == ["first", "second", "second, edited", "a new first item"]
    assert [item["seq"] for item in every] == [1, 2, 3, 4]


def test_branch_pages_and_bad_requests(alice):
    thread_id = alice.new_thread()["id"]
    ids = [alice.new_item(thread_id, f"m{n}")["id"] for n in range(5)]
    page = alice.get(f"/threads/{thread_id}/branch", query_string={"limit": 2, "order": "desc"}).get_json()
    assert [item["content"] for item in page["data"]] == ["m4", "m3"] and page["after"] == ids[3]
    page = alice.get(f"/threads/{thread_id}/branch", query_string={"limit": 2, "order": "desc", "after": page["after"]}).get_json()
    assert [item["content"] for item in page["data"]] == ["m2", "m1"]
    page = alice.get(f"/threads/{thread_id}/branch", query_string={"limit": 3, "after": ids[1], "order": "asc"}).get_json()
    assert [item["content"] for item in page["data"]] == ["m2", "m3", "m4"] and page["has_more"] is False
    assert_error(alice.get(f"/threads/{thread_id}/branch", query_string={"after": "msg_nope"}), 400, "invalid_request", "after")
    assert_error(alice.get(f"/threads/{thread_id}/branch", query_string={"limit": 0}), 400, "invalid_request", "limit")
    assert_error(alice.post(f"/threads/{thread_id}/branch", json={"item_id": ids[0], "version": 2}), 400, "invalid_request", "version")
    assert_error(alice.post(f"/threads/{thread_id}/branch", json={"item_id": ids[0], "version": 0}), 400, "invalid_request", "version")
    assert_error(alice.post(f"/threads/{thread_id}/branch", json={"version": 1}), 400, "invalid_request", "item_id")
    assert_error(alice.post(f"/threads/{thread_id}/branch", json={"item_id": "msg_nope"}), 404, "not_found")
    assert_error(alice.post(f"/threads/{thread_id}/items", json={"role": "user", "content": "x", "parent_id": "msg_nope"}), 400, "invalid_request", "parent_id")
    assert_error(alice.post(f"/threads/{thread_id}/items", json={"role": "user", "content": "x", "parent_id": 7}), 400, "invalid_request", "parent_id")
    assert [item["content"] for item in branch(alice, thread_id)] == [f"m{n}" for n in range(5)]  # nothing changed


def test_edit_and_resend_continues_from_the_edit_and_keeps_the_old_branch(alice, llm):
    thread_id = alice.new_thread()["id"]
    first = say(alice, thread_id, "Plan a trip")
    llm.script("reply", deltas=["Where to?"])
    asked = say(alice, thread_id, "To Rome")
    assert sent_context(llm) == [("user", "Plan a trip"), ("assistant", "Hello, world!"), ("user", "To Rome")]

    llm.script("reply", deltas=["Lisbon it is."])
    edited = say(alice, thread_id, "To Lisbon", parent_id=asked["user"]["parent_id"])
    assert edited["user"]["parent_id"] == first["assistant"]["id"]
    assert edited["assistant"]["parent_id"] == edited["user"]["id"]
    # The model saw the branch that leads to the edit: not the Rome question or its answer.
    assert sent_context(llm) == [("user", "Plan a trip"), ("assistant", "Hello, world!"), ("user", "To Lisbon")]
    shown = branch(alice, thread_id)
    assert [(i["content"], i["version"], i["versions"]) for i in shown] == [
        ("Plan a trip", 1, 1), ("Hello, world!", 1, 1), ("To Lisbon", 2, 2), ("Lisbon it is.", 1, 1),
    ]
    # The old branch stays reachable, reply and all; the next message continues the branch shown.
    alice.post(f"/threads/{thread_id}/branch", json={"item_id": edited["user"]["id"], "version": 1})
    assert [i["content"] for i in branch(alice, thread_id)][2:] == ["To Rome", "Where to?"]
    llm.script("reply", deltas=["Rome again."])
    say(alice, thread_id, "And hotels?")
    assert sent_context(llm)[-3:] == [("user", "To Rome"), ("assistant", "Where to?"), ("user", "And hotels?")]


def test_regenerate_adds_a_version_of_the_reply(alice, llm):
    thread_id = alice.new_thread()["id"]
    llm.script("reply", deltas=["first answer"])
    sent = say(alice, thread_id, "Tell me a joke")
    llm.script("reply", deltas=["second ", "answer"])
    response = alice.post(f"/threads/{thread_id}/items/{sent['user']['id']}/replies", json={})
    assert response.status_code == 201, response.get_data(as_text=True)
    again = response.get_json()
    assert again["user"]["id"] == sent["user"]["id"] and again["assistant"]["content"] == "second answer"
    assert again["assistant"]["parent_id"] == sent["user"]["id"]
    assert sent_context(llm) == [("user", "Tell me a joke")]  # the earlier answer is not context for its own redo
    assert [(i["content"], i["version"], i["versions"]) for i in branch(alice, thread_id)] == [
        ("Tell me a joke", 1, 1), ("second answer", 2, 2),
    ]
    llm.script("reply", deltas=["third"])
    streamed = alice.post(f"/threads/{thread_id}/items/{sent['user']['id']}/replies", json={"stream": True})
    events = sse_events(streamed.get_data(as_text=True))
    assert [name for name, _ in events] == ["user", "delta", "assistant"]
    versions = alice.get(f"/threads/{thread_id}/items/{events[-1][1]['id']}/versions").get_json()["data"]
    assert [item["content"] for item in versions] == ["first answer", "second answer", "third"]
    reply_id = sent["assistant"]["id"]
    assert_error(alice.post(f"/threads/{thread_id}/items/{reply_id}/replies", json={}), 400, "invalid_request", "item_id")
    assert_error(alice.post(f"/threads/{thread_id}/items/msg_nope/replies", json={}), 404, "not_found")


def test_a_retry_after_failures_leaves_one_reply(alice, llm):
    thread_id = alice.new_thread()["id"]
    llm.script("status", status=500)
    failed = alice.post(f"/threads/{thread_id}/messages", json={"content": "Are you up?"})
    assert failed.status_code == 502
    question_id = failed.get_json()["error"]["details"]["user"]["id"]
    retried = alice.post(f"/threads/{thread_id}/items/{question_id}/replies", json={})
    assert retried.status_code == 502  # failed again: the new notice replaces the old one
    statuses = [(i["role"], i["metadata"].get("status")) for i in alice.get(f"/threads/{thread_id}/items").get_json()["data"]]
    assert statuses == [("user", None), ("assistant", "error")]
    llm.script("reply")
    assert alice.post(f"/threads/{thread_id}/items/{question_id}/replies", json={}).status_code == 201
    every = alice.get(f"/threads/{thread_id}/items").get_json()["data"]
    assert [(i["role"], i["metadata"].get("status")) for i in every] == [("user", None), ("assistant", "complete")]
    assert [i["content"] for i in branch(alice, thread_id)] == ["Are you up?", "Hello, world!"]
    # A reply with text is kept as a version, even when it stopped short.
    alice.new_item(thread_id, "partial", role="assistant", parent_id=question_id, metadata={"status": "incomplete", "in_reply_to": question_id})
    assert alice.post(f"/threads/{thread_id}/items/{question_id}/replies", json={}).status_code == 201
    replies = [i for i in alice.get(f"/threads/{thread_id}/items").get_json()["data"] if i["role"] == "assistant"]
    assert [i["metadata"].get("status") for i in replies] == ["complete", "incomplete", "complete"]


def test_a_failure_the_conversation_continued_from_is_kept(alice, llm):
    thread_id = alice.new_thread()["id"]
    llm.script("status", status=500)
    question_id = alice.post(f"/threads/{thread_id}/messages", json={"content": "q"}).get_json()["error"]["details"]["user"]["id"]
    llm.script("reply")
    say(alice, thread_id, "never mind, another question")  # follows the failure notice
    alice.post(f"/threads/{thread_id}/items/{question_id}/replies", json={})
    statuses = [i["metadata"].get("status") for i in alice.get(f"/threads/{thread_id}/items").get_json()["data"] if i["role"] == "assistant"]
    assert statuses == ["error", "complete", "complete"]  # the notice stays: something follows it


def test_another_users_threads_and_items_never_work(alice, bob):
    thread_id = alice.new_thread()["id"]
    item = alice.new_item(thread_id, "private")
    bobs_thread = bob.new_thread()["id"]
    for response in (
        bob.get(f"/threads/{thread_id}/branch"),
        bob.get(f"/threads/{thread_id}/branch", query_string={"order": "desc"}),
        bob.post(f"/threads/{thread_id}/branch", json={"item_id": item["id"]}),
        bob.get(f"/threads/{thread_id}/items/{item['id']}/versions"),
        bob.post(f"/threads/{thread_id}/items/{item['id']}/replies", json={}),
        bob.post(f"/threads/{thread_id}/messages", json={"content": "x", "parent_id": item["id"]}),
    ):
        assert_error(response, 404, "not_found")
    # Alice's item id is no parent in Bob's own thread either.
    assert_error(bob.post(f"/threads/{bobs_thread}/items", json={"role": "user", "content": "x", "parent_id": item["id"]}), 400, "invalid_request", "parent_id")
    assert_error(bob.post(f"/threads/{bobs_thread}/branch", json={"item_id": item["id"]}), 404, "not_found")
    assert [i["content"] for i in branch(alice, thread_id)] == ["private"]


def test_the_openapi_document_describes_branches(alice):
    document = alice.get("/openapi.json").get_json()
    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/threads/{thread_id}/branch"])
    assert "get" in paths["/api/v1/threads/{thread_id}/items/{item_id}/versions"]
    assert "post" in paths["/api/v1/threads/{thread_id}/items/{item_id}/replies"]
    schemas = document["components"]["schemas"]
    assert {"version", "versions", "parent_id"} <= set(schemas["BranchItem"]["properties"])
    assert "parent_id" in schemas["Item"]["properties"] and "leaf_id" in schemas["Thread"]["properties"]
    assert "parent_id" in schemas["ItemCreate"]["properties"] and "parent_id" in schemas["MessageCreate"]["properties"]
    page = paths["/api/v1/threads/{thread_id}/branch"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert page == {"$ref": "#/components/schemas/BranchItemPage"}

"""The assistant's reply in the browser UI (Flask test client): streamed NDJSON, errors with a retry,
the demo label, CSRF and isolation. The backend is the real local fake server (tests/fake_llm.py)."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from flask.testing import FlaskClient

from chatapp.extensions import db
from chatapp.services import chat_store
from conftest import free_port, make_app
from fake_llm import DEFAULT_DELTAS, FakeLLM
from test_ui import csrf_token, register, start_chat, user_id_for

LLM_PORT = free_port()
APP_CONFIG = {
    "ASSISTANT_BASE_URL": f"http://127.0.0.1:{LLM_PORT}/v1",
    "ASSISTANT_MODEL": "fake-model",
    "ASSISTANT_TIMEOUT": "2",
}
NDJSON = "application/x-ndjson"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM(LLM_PORT).start()
    yield server
    server.stop()


def signed_in(app) -> FlaskClient:
    client = app.test_client()
    client.email = register(client)  # type: ignore[attr-defined]
    client.user_id = user_id_for(app, client.email)  # type: ignore[attr-defined]
    return client


@pytest.fixture
def alice(app, llm) -> FlaskClient:
    llm.script("reply")
    return signed_in(app)


def lines(response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines() if line.strip()]


def last_user_item_id(app, user_id: str, thread_id: str) -> str:
    with app.app_context():
        items = chat_store().list_items(user_id, thread_id).data
        db.session.remove()
    return [item for item in items if item.role == "user"][-1].id


def stored(app, user_id: str, thread_id: str):
    with app.app_context():
        items = chat_store().list_items(user_id, thread_id).data
        db.session.remove()
    return items


def ask(client: FlaskClient, thread_id: str, item_id: str, token: str | None = None, accept: str = NDJSON):
    token = token if token is not None else csrf_token(client, f"/t/{thread_id}")
    return client.post(
        f"/t/{thread_id}/reply", data={"item_id": item_id, "csrf_token": token}, headers={"Accept": accept}
    )


def test_script_send_announces_the_reply_url(alice):
    response = alice.post(
        "/threads", data={"content": "hi", "csrf_token": csrf_token(alice, "/")}, headers={"Accept": "application/json"}
    )
    body = response.get_json()
    assert body["reply_url"] == f"/t/{body['thread']['id']}/reply"


def test_reply_streams_as_ndjson_and_ends_with_the_rendered_item(app, alice):
    thread_id = start_chat(alice, "What is Neon?")
    item_id = last_user_item_id(app, alice.user_id, thread_id)
    response = ask(alice, thread_id, item_id)
    assert response.status_code == 200 and response.mimetype == NDJSON
    events = lines(response)
    assert [event["event"] for event in events] == ["user"] + ["delta"] * len(DEFAULT_DELTAS) + ["assistant"]
    assert [event["data"]["text"] for event in events[1:-1]] == DEFAULT_DELTAS
    final = events[-1]["data"]
    assert final["item"]["content"] == "Hello, world!" and final["item"]["metadata"]["in_reply_to"] == item_id
    assert f'id="{final["item"]["id"]}"' in final["html"] and "Hello, world!" in final["html"]
    assert "Demo responder" not in final["html"] and "Retry" not in final["html"]
    assert [(item.role, item.content) for item in stored(app, alice.user_id, thread_id)] == [
        ("user", "What is Neon?"),
        ("assistant", "Hello, world!"),
    ]
    page = alice.get(f"/t/{thread_id}").get_data(as_text=True)
    assert "Hello, world!" in page


def test_backend_error_shows_the_error_item_with_a_retry_that_works(app, alice, llm):
    thread_id = start_chat(alice, "Are you there?")
    item_id = last_user_item_id(app, alice.user_id, thread_id)
    llm.script("status", status=500)
    response = ask(alice, thread_id, item_id)
    assert response.status_code == 502
    body = response.get_json()
    assert body["error"]["code"] == "upstream_error" and "HTTP 500" in body["error"]["message"]
    assert "The reply failed" in body["html"] and "data-retry" in body["html"]
    assert f'name="item_id" value="{item_id}"' in body["html"]
    page = alice.get(f"/t/{thread_id}").get_data(as_text=True)
    assert "The reply failed" in page and "Retry" in page  # it persists

    llm.script("reply")
    retried = ask(alice, thread_id, item_id)
    assert lines(retried)[-1]["event"] == "assistant"
    statuses = [(item.role, item.metadata.get("status")) for item in stored(app, alice.user_id, thread_id)]
    assert statuses == [("user", None), ("assistant", "error"), ("assistant", "complete")]


def test_dropped_stream_ends_with_an_error_event_and_an_incomplete_item(app, alice, llm):
    thread_id = start_chat(alice, "Tell me everything")
    llm.script("drop")
    events = lines(ask(alice, thread_id, last_user_item_id(app, alice.user_id, thread_id)))
    assert [event["event"] for event in events] == ["user", "delta", "delta", "error"]
    assert "This reply is incomplete" in events[-1]["data"]["html"] and "Retry" in events[-1]["data"]["html"]
    assert stored(app, alice.user_id, thread_id)[-1].metadata["status"] == "incomplete"


def test_plain_form_reply_redirects_back_to_the_chat(app, alice):
    thread_id = start_chat(alice, "no script here")
    response = ask(alice, thread_id, last_user_item_id(app, alice.user_id, thread_id), accept="text/html")
    assert response.status_code == 303 and response.location == f"/t/{thread_id}#latest"
    assert stored(app, alice.user_id, thread_id)[-1].content == "Hello, world!"


def test_reply_needs_csrf_a_user_message_and_the_owner(app, alice, llm):
    thread_id = start_chat(alice, "mine")
    item_id = last_user_item_id(app, alice.user_id, thread_id)
    before = len(llm.requests)
    assert ask(alice, thread_id, item_id, token="wrong").status_code == 400
    bob = signed_in(app)
    assert ask(bob, thread_id, item_id, token=csrf_token(bob, "/")).status_code == 404
    ask(alice, thread_id, item_id)
    reply_id = stored(app, alice.user_id, thread_id)[-1].id
    assert ask(alice, thread_id, reply_id).status_code == 400  # an assistant item is not a question
    assert len(llm.requests) == before + 1
    signed_out = app.test_client()
    assert signed_out.post(f"/t/{thread_id}/reply", data={"item_id": item_id}).status_code in (302, 303, 400)


def test_offline_responder_is_labelled_as_a_demo(app):
    offline = make_app(app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path)
    client = signed_in(offline)
    thread_id = start_chat(client, "How many messages are here?")
    events = lines(ask(client, thread_id, last_user_item_id(offline, client.user_id, thread_id)))
    final = events[-1]["data"]
    assert final["item"]["metadata"]["model"] == "chatapp-offline-demo" and final["item"]["metadata"]["demo"] is True
    assert "Demo responder · offline" in final["html"]
    assert "How many messages are here?" in final["item"]["content"]
    assert "Demo responder · offline" in client.get(f"/t/{thread_id}").get_data(as_text=True)

"""The assistant's reply in the browser UI (Flask test client): streamed NDJSON, the whole reply for
a plain form (no script), errors in plain words with a retry, the demo label, the items a page
reads after a stopped reply, CSRF and isolation. The backend is the real local fake server
(tests/support/fake_llm.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from chatapp.extensions import db
from chatapp.services import chat_store
from support.databases import free_port, make_app
from support.fake_llm import DEFAULT_DELTAS
from support.ui import csrf_token, register, start_chat, user_id_for

LLM_PORT = free_port()
APP_CONFIG = {
    "ASSISTANT_BASE_URL": f"http://127.0.0.1:{LLM_PORT}/v1",
    "ASSISTANT_MODEL": "fake-model",
    "ASSISTANT_TIMEOUT": "2",
    "REGISTER_LIMIT_PER_ADDRESS": "1000 per minute",
}
NDJSON = "application/x-ndjson"



def signed_in(app) -> FlaskClient:
    client = app.test_client()
    client.email = register(client)  # type: ignore[attr-defined]
    client.user_id = user_id_for(app, client.email)  # type: ignore[attr-defined]
    return client


@pytest.fixture
def alice(app, llm) -> FlaskClient:
    llm.script("reply")
    return signed_in(app)


def start_chat_by_script(client: FlaskClient, content: str) -> str:
    """Start a chat the way the page's script does: the message is stored, no reply is asked yet."""
    response = client.post(
        "/threads", data={"content": content, "csrf_token": csrf_token(client, "/")}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 201
    return response.get_json()["thread"]["id"]


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
    thread_id = start_chat_by_script(alice, "What is Neon?")
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
    thread_id = start_chat_by_script(alice, "Are you there?")
    item_id = last_user_item_id(app, alice.user_id, thread_id)
    llm.script("status", status=500)
    response = ask(alice, thread_id, item_id)
    assert response.status_code == 502
    body = response.get_json()
    assert body["error"]["code"] == "upstream_error" and "HTTP 500" in body["error"]["message"]
    assert "The model server answered an error; try again." in body["html"] and "data-retry" in body["html"]
    assert "<summary>Technical details</summary>" in body["html"] and "HTTP 500" in body["html"]
    assert "The assistant could not answer" not in body["html"]  # the stored notice gives way to plain words
    assert f'name="item_id" value="{item_id}"' in body["html"]
    page = alice.get(f"/t/{thread_id}").get_data(as_text=True)
    assert "The model server answered an error; try again." in page and "Retry" in page  # it persists

    llm.script("reply")
    retried = ask(alice, thread_id, item_id)
    assert lines(retried)[-1]["event"] == "assistant"
    statuses = [(item.role, item.metadata.get("status")) for item in stored(app, alice.user_id, thread_id)]
    assert statuses == [("user", None), ("assistant", "complete")]  # the reply replaced the failure


def test_dropped_stream_ends_with_an_error_event_and_an_incomplete_item(app, alice, llm):
    thread_id = start_chat_by_script(alice, "Tell me everything")
    llm.script("drop")
    events = lines(ask(alice, thread_id, last_user_item_id(app, alice.user_id, thread_id)))
    assert [event["event"] for event in events] == ["user", "delta", "delta", "error"]
    html = events[-1]["data"]["html"]
    assert "This reply is incomplete: the model server stopped answering midway; try again." in html
    assert "Technical details" in html and "Retry" in html
    assert stored(app, alice.user_id, thread_id)[-1].metadata["status"] == "incomplete"


def test_plain_form_reply_redirects_back_to_the_chat(app, alice):
    thread_id = start_chat_by_script(alice, "no script here")
    response = ask(alice, thread_id, last_user_item_id(app, alice.user_id, thread_id), accept="text/html")
    assert response.status_code == 303 and response.location == f"/t/{thread_id}#latest"
    assert stored(app, alice.user_id, thread_id)[-1].content == "Hello, world!"


def test_reply_needs_csrf_a_user_message_and_the_owner(app, alice, llm):
    thread_id = start_chat_by_script(alice, "mine")
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
    thread_id = start_chat_by_script(client, "How many messages are here?")
    events = lines(ask(client, thread_id, last_user_item_id(offline, client.user_id, thread_id)))
    final = events[-1]["data"]
    assert final["item"]["metadata"]["model"] == "chatapp-offline-demo" and final["item"]["metadata"]["demo"] is True
    assert "Demo responder · offline" in final["html"]
    assert "How many messages are here?" in final["item"]["content"]
    assert "Demo responder · offline" in client.get(f"/t/{thread_id}").get_data(as_text=True)


# -- without the page's script: the plain form answers with the whole reply -----------------


def test_plain_form_send_stores_the_message_and_the_whole_reply(app, alice, llm):
    before = len(llm.requests)
    thread_id = start_chat(alice, "No script in this browser")  # 303 only after the reply is stored
    assert [(item.role, item.content) for item in stored(app, alice.user_id, thread_id)] == [
        ("user", "No script in this browser"),
        ("assistant", "Hello, world!"),
    ]
    token = csrf_token(alice, f"/t/{thread_id}")
    form = {"content": "And a follow-up", "csrf_token": token, "item_id": "msg_" + "a1" * 16}
    response = alice.post(f"/t/{thread_id}/messages", data=form)
    assert response.status_code == 303 and response.location == f"/t/{thread_id}#latest"
    assert alice.post(f"/t/{thread_id}/messages", data=form).status_code == 303  # resubmitted: no second reply
    items = stored(app, alice.user_id, thread_id)
    assert [item.role for item in items] == ["user", "assistant", "user", "assistant"]
    assert items[3].metadata["status"] == "complete" and items[3].metadata["in_reply_to"] == items[2].id
    assert len(llm.requests) == before + 2
    page = alice.get(f"/t/{thread_id}").get_data(as_text=True)
    assert page.count("Hello, world!") >= 2 and "And a follow-up" in page


@pytest.mark.parametrize(
    "behaviour, words, detail",
    [
        ({"kind": "status", "status": 500}, "The model server answered an error; try again.", "HTTP 500"),
        ({"kind": "hang"}, "The model server took too long to answer; try again.", "upstream_timeout"),
    ],
    ids=["error-status", "timeout"],
)
def test_plain_form_send_with_a_failing_backend_shows_plain_words_and_a_retry(app, alice, llm, behaviour, words, detail):
    llm.script(**behaviour)
    thread_id = start_chat(alice, "Will this fail?")
    user, failure = stored(app, alice.user_id, thread_id)
    assert failure.metadata["status"] == "error" and failure.metadata["in_reply_to"] == user.id
    page = alice.get(f"/t/{thread_id}").get_data(as_text=True)
    assert words in page
    details = re.search(r'<details class="reply-detail">(.*?)</details>', page, re.S)
    assert details and detail in details.group(1)
    assert f'name="item_id" value="{user.id}"' in page and ">Retry</button>" in page

    llm.script("reply")  # Retry without the script: a plain form too, answered whole
    retried = ask(alice, thread_id, user.id, accept="text/html")
    assert retried.status_code == 303
    assert [item.metadata.get("status") for item in stored(app, alice.user_id, thread_id)] == [None, "complete"]


def test_an_unreachable_backend_is_said_in_plain_words(app):
    unreachable = make_app(
        app.config["SQLALCHEMY_DATABASE_URI"],
        app.instance_path,
        ASSISTANT_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
        ASSISTANT_MODEL="fake-model",
        ASSISTANT_TIMEOUT="2",
    )
    client = signed_in(unreachable)
    thread_id = start_chat(client, "Anyone there?")
    page = client.get(f"/t/{thread_id}").get_data(as_text=True)
    assert "The model server could not be reached; try again." in page
    assert "Could not reach the assistant backend" in re.search(r'<details class="reply-detail">(.*?)</details>', page, re.S).group(1)


# -- what the page reads after a stopped reply ----------------------------------------------


def test_items_after_answers_the_stored_items_with_their_html(app, alice):
    thread_id = start_chat_by_script(alice, "first question")
    question = last_user_item_id(app, alice.user_id, thread_id)
    assert lines(ask(alice, thread_id, question))[-1]["event"] == "assistant"
    response = alice.get(f"/t/{thread_id}/items?after={question}", headers={"Accept": "application/json"})
    assert response.status_code == 200
    body = response.get_json()
    assert [entry["item"]["role"] for entry in body["items"]] == ["assistant"] and body["has_more"] is False
    entry = body["items"][0]
    assert entry["item"]["metadata"]["in_reply_to"] == question
    assert f'id="{entry["item"]["id"]}"' in entry["html"] and "Hello, world!" in entry["html"]
    everything = alice.get(f"/t/{thread_id}/items", headers={"Accept": "application/json"}).get_json()
    assert [entry["item"]["id"] for entry in everything["items"]][0] == question

    bob = signed_in(app)
    assert bob.get(f"/t/{thread_id}/items?after={question}", headers={"Accept": "application/json"}).status_code == 404
    unknown = alice.get(f"/t/{thread_id}/items?after=msg_unknown", headers={"Accept": "application/json"})
    assert unknown.status_code == 400
    signed_out = app.test_client().get(f"/t/{thread_id}/items", headers={"Accept": "application/json"})
    assert signed_out.status_code == 401

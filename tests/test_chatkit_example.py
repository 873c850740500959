"""examples/chatkit_server.py under a real gunicorn: ChatKit requests in, threads in chatapp's API."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("chatkit", reason="openai-chatkit is not installed (requirements-chatkit.txt)")

from chatkit.types import AssistantMessageItem, UserMessageItem  # noqa: E402

from chatapp.extensions import db  # noqa: E402
from chatapp.integrations.chatkit import ChatKitStore  # noqa: E402
from chatapp.store.accounts import AccountStore  # noqa: E402
from support.httpclient import Api, call  # noqa: E402
from support.servers import gunicorn_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APP_SPEC = "examples.chatkit_server:create_example_app()"


def load_example():
    spec = importlib.util.spec_from_file_location("chatkit_server_example", ROOT / "examples" / "chatkit_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def base(app):
    """The example served by gunicorn on the module's migrated database."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with gunicorn_server(url, app.instance_path, app_spec=APP_SPEC) as served:
        yield served


def new_user() -> str:
    return f"host-{os.urandom(6).hex()}"


def user_input(text: str) -> dict:
    return {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}


def chatkit(base: str, user: str, body: dict):
    return call("POST", base + "/chatkit", body, {"X-Example-User-Id": user})


def sse_events(body: bytes) -> list[dict]:
    return [json.loads(line[len(b"data: "):]) for line in body.split(b"\n\n") if line.startswith(b"data: ")]


def api_for(app, host_user: str, base: str) -> Api:
    """A chatapp API token for the user the adapter provisioned for `host_user`."""
    with app.app_context():
        accounts = AccountStore(db.session)
        _, token = accounts.create_token(accounts.ensure_external_user(host_user), "test")
        db.session.remove()
    return Api(base, token)


def test_a_chatkit_conversation_shows_in_chatapps_api(app, base):
    user = new_user()
    reply = chatkit(base, user, {"type": "threads.create", "params": {"input": user_input("Hello from ChatKit?")}})
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(reply.body)
    kinds = [e["type"] for e in events]
    assert kinds[:4] == ["thread.created", "thread.item.done", "stream_options", "thread.item.added"]
    assert {"thread.updated", "thread.item.updated"} <= set(kinds) and kinds[-1] == "thread.item.done"
    assert "error" not in kinds
    thread_id = events[0]["thread"]["id"]
    done = [e["item"] for e in events if e["type"] == "thread.item.done"]
    assert [d["type"] for d in done] == ["user_message", "assistant_message"]
    answer = done[1]["content"][0]["text"]
    streamed = "".join(e["update"]["delta"] for e in events if e["type"] == "thread.item.updated")
    assert streamed == answer
    assert answer.startswith("Demo responder (offline, no model connected).")
    assert "You asked: “Hello from ChatKit?”" in answer
    assert "This thread holds 1 message: 1 from you and 0 from the assistant." in answer

    api = api_for(app, user, base)
    threads = api.call("GET", "/threads").json()["data"]
    assert [(t["id"], t["title"]) for t in threads] == [(thread_id, "Hello from ChatKit?")]
    items = api.call("GET", f"/threads/{thread_id}/items").json()["data"]
    assert [(i["type"], i["role"], i["content"]) for i in items] == [
        ("message", "user", "Hello from ChatKit?"),
        ("message", "assistant", answer),
    ]
    assert [i["id"] for i in items] == [d["id"] for d in done]

    # A follow-up sees the history; ChatKit reads the thread back from chatapp's tables.
    reply = chatkit(base, user, {"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": user_input("And again")}})
    answer = [e["item"] for e in sse_events(reply.body) if e["type"] == "thread.item.done"][-1]["content"][0]["text"]
    assert "This thread holds 3 messages: 2 from you and 1 from the assistant." in answer
    reply = chatkit(base, user, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}})
    thread = reply.json()
    assert thread["title"] == "Hello from ChatKit?"
    assert [i["type"] for i in thread["items"]["data"]] == ["user_message", "assistant_message"] * 2
    assert len(api.call("GET", f"/threads/{thread_id}/items").json()["data"]) == 4


def test_users_are_kept_apart_and_bad_requests_are_refused(base):
    owner, other = new_user(), new_user()
    reply = chatkit(base, owner, {"type": "threads.create", "params": {"input": user_input("mine")}})
    thread_id = sse_events(reply.body)[0]["thread"]["id"]

    listed = chatkit(base, other, {"type": "threads.list", "params": {}})
    assert listed.status == 200 and listed.json()["data"] == []
    assert chatkit(base, other, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}).status == 404
    assert chatkit(base, other, {"type": "threads.delete", "params": {"thread_id": thread_id}}).status == 404
    owned = chatkit(base, owner, {"type": "threads.list", "params": {"order": "asc"}}).json()
    assert [t["id"] for t in owned["data"]] == [thread_id] and owned["has_more"] is False

    assert call("POST", base + "/chatkit", {"type": "threads.list", "params": {}}).status == 401
    assert chatkit(base, owner, {"type": "no.such.request"}).status == 400


async def test_the_server_uses_a_subclasses_id_generators(app):
    example = load_example()

    class CustomIds(ChatKitStore):
        def generate_thread_id(self, context) -> str:
            return f"conv-{os.urandom(6).hex()}"

        def generate_item_id(self, item_type, thread, context) -> str:
            return f"{thread.id}.{item_type}.{os.urandom(3).hex()}"

    store = CustomIds(app)
    server = example.OfflineChatKitServer(store)
    context = {"user": {"id": new_user()}}
    body = json.dumps({"type": "threads.create", "params": {"input": user_input("custom ids")}})
    result = await server.process(body, context)
    events = [json.loads(chunk[len(b"data: "):]) async for chunk in result]
    thread_id = events[0]["thread"]["id"]
    assert thread_id.startswith("conv-")

    items = (await store.load_thread_items(thread_id, None, 10, "asc", context)).data
    assert [type(i) for i in items] == [UserMessageItem, AssistantMessageItem]
    assert all(i.id.startswith(f"{thread_id}.message.") for i in items)

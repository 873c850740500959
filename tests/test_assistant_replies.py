"""Assistant replies through the API against a real local Chat Completions server (tests/support/fake_llm.py).

No function is patched: chatapp's `openai` client talks HTTP to the fake on 127.0.0.1, which
streams SSE chunks (or answers 500, drops the stream, hangs) as each test scripts it.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from support.api_client import ApiClient
from support.databases import free_port, make_app
from support.fake_llm import DEFAULT_DELTAS

LLM_PORT = free_port()
TIMEOUT = 2.0
HANG_SECONDS = 60  # how long the fake hangs; a reply ending sooner was ended by our timeout
APP_CONFIG = {
    "ASSISTANT_BASE_URL": f"http://127.0.0.1:{LLM_PORT}/v1",
    "ASSISTANT_API_KEY": "sk-test-key",
    "ASSISTANT_MODEL": "fake-model",
    "ASSISTANT_SYSTEM_PROMPT": "You are a test assistant.",
    "ASSISTANT_TEMPERATURE": "0.3",
    "ASSISTANT_TIMEOUT": str(TIMEOUT),
    "ASSISTANT_HISTORY_MESSAGES": "4",
}



@pytest.fixture
def api(app, llm) -> ApiClient:
    llm.script("reply")
    return ApiClient(app)


def sse_events(body: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of a text/event-stream body."""
    events = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def thread_items(api: ApiClient, thread_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/threads/{thread_id}/items?limit=100")
    assert response.status_code == 200
    return response.get_json()["data"]


def test_normal_reply_is_stored_with_model_usage_latency_and_finish_reason(api, llm):
    thread = api.new_thread()
    response = api.post(f"/threads/{thread['id']}/messages", json={"content": "What is Neon?"})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    user, assistant = body["user"], body["assistant"]
    assert (user["role"], user["content"]) == ("user", "What is Neon?")
    assert (assistant["role"], assistant["content"]) == ("assistant", "Hello, world!")
    metadata = assistant["metadata"]
    assert metadata["status"] == "complete" and metadata["model"] == "fake-model"
    assert metadata["finish_reason"] == "stop"
    assert metadata["usage"] == {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    assert isinstance(metadata["latency_ms"], int) and metadata["latency_ms"] >= 0
    assert "demo" not in metadata
    assert metadata["in_reply_to"] == user["id"]
    assert [item["id"] for item in thread_items(api, thread["id"])] == [user["id"], assistant["id"]]
    assert assistant["seq"] == user["seq"] + 1

    sent = llm.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer sk-test-key"
    assert sent["body"]["model"] == "fake-model" and sent["body"]["temperature"] == 0.3
    assert sent["body"]["stream"] is True and sent["body"]["stream_options"] == {"include_usage": True}
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "You are a test assistant."},
        {"role": "user", "content": "What is Neon?"},
    ]


def test_streamed_deltas_arrive_in_order_between_the_stored_items(api, llm):
    deltas = [f"part{index} " for index in range(12)]
    llm.script("reply", deltas=deltas)
    thread = api.new_thread()
    response = api.post(f"/threads/{thread['id']}/messages", json={"content": "Stream it", "stream": True})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    events = sse_events(response.get_data(as_text=True))
    names = [name for name, _ in events]
    assert names == ["user"] + ["delta"] * len(deltas) + ["assistant"]
    assert [data["text"] for name, data in events if name == "delta"] == deltas
    user, assistant = events[0][1], events[-1][1]
    assert user["content"] == "Stream it" and assistant["content"] == "".join(deltas)
    assert assistant["metadata"]["status"] == "complete"
    stored = thread_items(api, thread["id"])
    assert [(item["id"], item["content"]) for item in stored] == [
        (user["id"], "Stream it"),
        (assistant["id"], "".join(deltas)),
    ]


def test_accept_event_stream_also_streams(api):
    thread = api.new_thread()
    response = api.post(
        f"/threads/{thread['id']}/messages", json={"content": "hi"}, headers={"Accept": "text/event-stream"}
    )
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = sse_events(response.get_data(as_text=True))
    assert events[0][0] == "user" and events[-1][0] == "assistant"
    assert "".join(data["text"] for name, data in events if name == "delta") == "".join(DEFAULT_DELTAS)


def test_context_is_the_system_prompt_then_the_latest_messages_oldest_first(api, llm):
    thread = api.new_thread()
    for question in ("one", "two", "three"):
        assert api.post(f"/threads/{thread['id']}/messages", json={"content": question}).status_code == 201
    messages = llm.requests[-1]["body"]["messages"]
    # ASSISTANT_HISTORY_MESSAGES=4: the last four of user/assistant x3.
    assert messages == [
        {"role": "system", "content": "You are a test assistant."},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "Hello, world!"},
        {"role": "user", "content": "three"},
    ]


def test_rag_sources_and_confidence_are_stored_when_the_backend_sends_them(api, llm):
    sources = [{"document": "neon-pooling.md", "chunk": 2, "score": 0.91}]
    llm.script("reply", extra={"sources": sources, "confidence": 0.87})
    thread = api.new_thread()
    assistant = api.post(f"/threads/{thread['id']}/messages", json={"content": "pooling?"}).get_json()["assistant"]
    assert assistant["metadata"]["sources"] == sources
    assert assistant["metadata"]["confidence"] == 0.87


def test_stream_dropped_halfway_stores_the_partial_reply_as_incomplete(api, llm):
    llm.script("drop")
    thread = api.new_thread()
    response = api.post(f"/threads/{thread['id']}/messages", json={"content": "Tell me", "stream": True})
    assert response.status_code == 200
    events = sse_events(response.get_data(as_text=True))
    assert [name for name, _ in events] == ["user", "delta", "delta", "error"]
    error = events[-1][1]
    assert error["error"]["code"] == "upstream_error" and error["status"] == 502
    partial = error["assistant"]
    assert partial["content"] == "Hello, "
    assert partial["metadata"]["status"] == "incomplete"
    assert partial["metadata"]["error"]["code"] == "upstream_error"
    assert [item["content"] for item in thread_items(api, thread["id"])] == ["Tell me", "Hello, "]


def test_dropped_stream_without_streaming_answers_502_with_the_partial_reply(api, llm):
    llm.script("drop")
    thread = api.new_thread()
    response = api.post(f"/threads/{thread['id']}/messages", json={"content": "Tell me"})
    assert response.status_code == 502
    error = response.get_json()["error"]
    assert error["code"] == "upstream_error"
    assert error["details"]["assistant"]["metadata"]["status"] == "incomplete"
    assert error["details"]["assistant"]["content"] == "Hello, "


def test_backend_500_keeps_the_user_message_and_answers_a_clear_502(api, llm):
    llm.script("status", status=500)
    thread = api.new_thread()
    response = api.post(f"/threads/{thread['id']}/messages", json={"content": "Still there?"})
    assert response.status_code == 502
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "upstream_error"
    assert "HTTP 500" in error["message"] and "the model crashed" in error["message"]
    assert error["details"]["upstream_status"] == 500
    stored = thread_items(api, thread["id"])
    assert [(item["role"], item["metadata"].get("status")) for item in stored] == [("user", None), ("assistant", "error")]
    assert stored[0]["content"] == "Still there?" and stored[0]["id"] == error["details"]["user"]["id"]
    assert stored[1]["metadata"]["error"]["message"] == error["message"]
    assert stored[1]["metadata"]["placeholder"] is True


def test_backend_500_when_streaming_is_also_a_502_json_answer(api, llm):
    llm.script("status", status=503)
    thread = api.new_thread()
    response = api.post(f"/threads/{thread['id']}/messages", json={"content": "hello?", "stream": True})
    assert response.status_code == 502 and response.get_json()["error"]["details"]["upstream_status"] == 503


def test_hanging_backend_times_out_within_the_configured_timeout(api, llm):
    llm.script("hang")
    thread = api.new_thread()
    response = api.post(f"/threads/{thread['id']}/messages", json={"content": "Anyone?"})
    assert response.status_code == 504
    error = response.get_json()["error"]
    assert error["code"] == "upstream_timeout" and f"{TIMEOUT:g} seconds" in error["message"]
    latency = error["details"]["assistant"]["metadata"]["latency_ms"]
    # Waited for the timeout, and gave up long before the fake would have answered.
    assert TIMEOUT * 1000 <= latency < HANG_SECONDS * 1000
    assert [item["role"] for item in thread_items(api, thread["id"])] == ["user", "assistant"]


def test_backend_going_quiet_midstream_times_out_and_keeps_the_partial_reply(api, llm):
    llm.script("hang_midstream")
    thread = api.new_thread()
    response = api.post(f"/threads/{thread['id']}/messages", json={"content": "Go on", "stream": True})
    events = sse_events(response.get_data(as_text=True))
    assert [name for name, _ in events] == ["user", "delta", "error"]
    error = events[-1][1]
    assert error["error"]["code"] == "upstream_timeout" and error["status"] == 504
    assert error["assistant"]["content"] == "Hello" and error["assistant"]["metadata"]["status"] == "incomplete"
    assert TIMEOUT * 1000 <= error["assistant"]["metadata"]["latency_ms"] < HANG_SECONDS * 1000


def test_malformed_stream_is_a_502(api, llm):
    llm.script("malformed")
    thread = api.new_thread()
    response = api.post(f"/threads/{thread['id']}/messages", json={"content": "x"})
    assert response.status_code == 502
    assert "malformed" in response.get_json()["error"]["message"]


def test_unreachable_backend_is_a_502_and_keeps_the_message(app):
    dead = make_app(
        app.config["SQLALCHEMY_DATABASE_URI"],
        app.instance_path,
        **{**APP_CONFIG, "ASSISTANT_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"},
    )
    api = ApiClient(dead)
    thread = api.new_thread()
    response = api.post(f"/threads/{thread['id']}/messages", json={"content": "hello"})
    assert response.status_code == 502
    assert "Could not reach the assistant backend" in response.get_json()["error"]["message"]
    assert [item["content"] for item in thread_items(api, thread["id"])][0] == "hello"


def test_retry_with_the_same_id_stores_the_message_once_and_gets_a_new_reply(api, llm):
    thread = api.new_thread()
    llm.script("status", status=500)
    assert api.post(f"/threads/{thread['id']}/messages", json={"id": "msg_client_1", "content": "retry me"}).status_code == 502
    llm.script("reply")
    response = api.post(f"/threads/{thread['id']}/messages", json={"id": "msg_client_1", "content": "retry me"})
    assert response.status_code == 201
    assert response.get_json()["user"]["id"] == "msg_client_1"
    stored = thread_items(api, thread["id"])
    # The reply replaced the failure notice: a retry leaves one reply, not a pile of failures.
    assert [(item["role"], item["metadata"].get("status")) for item in stored] == [
        ("user", None),
        ("assistant", "complete"),
    ]
    assert stored[1]["parent_id"] == "msg_client_1"
    # The error notice is not sent to the model as if it were an answer.
    assert llm.requests[-1]["body"]["messages"][1:] == [{"role": "user", "content": "retry me"}]


def test_client_leaving_midstream_in_process_saves_the_partial_reply(api, llm):
    llm.script("reply", deltas=[f"w{index} " for index in range(200)], delay=0.02)
    thread = api.new_thread()
    response = api.post(
        f"/threads/{thread['id']}/messages", json={"content": "long one", "stream": True}, buffered=False
    )
    chunks = iter(response.response)
    received = [next(chunks) for _ in range(3)]  # the user event and two deltas
    assert b"event: user" in received[0] and b"event: delta" in received[2]
    response.close()
    assert llm.client_gone.wait(10), "the backend stream was not closed"
    stored = thread_items(api, thread["id"])
    assert [item["role"] for item in stored] == ["user", "assistant"]
    partial = stored[1]
    assert partial["metadata"]["status"] == "incomplete"
    assert partial["content"].startswith("w0 w1 ") and len(partial["content"]) < len("".join(f"w{i} " for i in range(200)))


def test_missing_thread_and_invalid_body_are_refused_before_any_backend_call(api, llm):
    before = len(llm.requests)
    assert api.post("/threads/thr_missing/messages", json={"content": "x"}).status_code == 404
    thread = api.new_thread()
    assert api.post(f"/threads/{thread['id']}/messages", json={"content": ""}).status_code == 400
    assert api.post(f"/threads/{thread['id']}/messages", json={"content": "x", "stream": "yes"}).status_code == 400
    assert len(llm.requests) == before


def test_the_fake_speaks_non_streaming_chat_completions_too(llm):
    llm.script("reply")
    client = openai.OpenAI(base_url=llm.base_url, api_key="k", max_retries=0)
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "".join(DEFAULT_DELTAS)
    assert completion.usage.total_tokens == 15


def test_messages_route_is_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/threads/{thread_id}/messages"]["post"]
    assert {"201", "502", "504"} <= set(operation["responses"])
    assert "text/event-stream" in operation["description"]

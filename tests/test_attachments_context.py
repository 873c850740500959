"""Attachments as context for the model, on SQLite and PostgreSQL: the request the real local fake
server (tests/fake_llm.py) receives. Text files go as text, images as image parts when
ASSISTANT_VISION=true and as a note otherwise, other files as a note; another user's files never."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import pytest

from support.api_client import ApiClient, assert_error
from support.databases import free_port, make_app
from support.fake_llm import FakeLLM
from support.sample_files import BINARY, GIF, SVG, png
from support.ui import csrf_token, register, user_id_for

LLM_PORT = free_port()
APP_CONFIG = {
    "ASSISTANT_BASE_URL": f"http://127.0.0.1:{LLM_PORT}/v1",
    "ASSISTANT_MODEL": "fake-model",
    "ASSISTANT_SYSTEM_PROMPT": "Be brief.",
    "ASSISTANT_TIMEOUT": "2",
    "ASSISTANT_HISTORY_CHARS": "2000",
}
PNG = png()



@pytest.fixture(scope="module")
def vision_app(app):
    """The same database and model server, with ASSISTANT_VISION=true."""
    return make_app(app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path, **APP_CONFIG, ASSISTANT_VISION="true")


@pytest.fixture
def alice(app, llm) -> ApiClient:
    llm.script("reply")
    return ApiClient(app)


def upload(api: ApiClient, name: str, data: bytes, content_type: str, thread_id: str | None = None) -> str:
    form: dict[str, Any] = {"file": (io.BytesIO(data), name, content_type)}
    if thread_id:
        form["thread_id"] = thread_id
    response = api.post("/attachments", data=form, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def question(llm: FakeLLM) -> dict[str, Any]:
    """The last message of the last request the model received: the question, with its parts."""
    return llm.requests[-1]["body"]["messages"][-1]


def test_text_files_reach_the_model_as_text_and_images_as_a_note(alice, llm):
    thread_id = alice.new_thread()["id"]
    notes = upload(alice, "notes.md", b"# Plan\nRome ```code``` Lisbon", "text/markdown", thread_id)
    code = upload(alice, "main.py", b"print('hi')\n", "application/octet-stream")  # text, whatever it claims
    image = upload(alice, "photo.png", PNG, "image/png")
    blob = upload(alice, "data.bin", BINARY, "application/octet-stream")
    response = alice.post(
        f"/threads/{thread_id}/messages", json={"content": "Summarise these", "attachments": [notes, code, image, blob]}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["user"]["metadata"] == {"attachments": [notes, code, image, blob]}
    sent = question(llm)
    assert sent["role"] == "user" and isinstance(sent["content"], str)  # no images: plain text content
    text = sent["content"]
    assert text.startswith("Summarise these\n\n")
    assert 'Attached file "notes.md":\n````\n# Plan\nRome ```code``` Lisbon\n````' in text  # a fence longer than the file's
    assert "Attached file \"main.py\":\n```\nprint('hi')\n\n```" in text
    assert '[Image "photo.png" attached; this model is not shown images.]' in text
    assert '[File "data.bin" (application/octet-stream, 1024 bytes) attached; only text files and images are sent.]' in text
    assert text.index("notes.md") < text.index("main.py") < text.index("photo.png") < text.index("data.bin")


def test_images_go_as_image_parts_when_the_model_accepts_them(vision_app, llm, alice):
    llm.script("reply")
    api = ApiClient(vision_app, alice.user_id)
    thread_id = api.new_thread()["id"]
    image = upload(api, "photo.png", PNG, "image/png")
    gif = upload(api, "anim.gif", GIF, "application/octet-stream")  # the bytes say GIF
    svg = upload(api, "logo.svg", SVG, "image/svg+xml")  # not a raster image: text for the model
    notes = upload(api, "notes.txt", b"some notes", "text/plain")
    assert api.post(f"/threads/{thread_id}/messages", json={"content": "What is this?", "attachments": [image, gif, svg, notes]}).status_code == 201
    content = question(llm)["content"]
    assert isinstance(content, list)
    assert content[0]["type"] == "text" and content[0]["text"].startswith("What is this?\n\n")
    assert 'Attached file "notes.txt":\n```\nsome notes\n```' in content[0]["text"] and "logo.svg" in content[0]["text"]
    images = [part["image_url"]["url"] for part in content[1:]]
    assert [part["type"] for part in content[1:]] == ["image_url", "image_url"]
    assert images == [
        "data:image/png;base64," + base64.b64encode(PNG).decode(),
        "data:image/gif;base64," + base64.b64encode(GIF).decode(),
    ]
    # Earlier messages keep their files in the context of the next question.
    llm.script("reply")
    assert api.post(f"/threads/{thread_id}/messages", json={"content": "And now?"}).status_code == 201
    earlier = llm.requests[-1]["body"]["messages"][1]
    assert earlier["role"] == "user" and earlier["content"][0]["text"].startswith("What is this?")


def test_attachment_text_has_a_budget_of_its_own(alice, llm):
    thread_id = alice.new_thread()["id"]
    big = upload(alice, "big.txt", b"x" * 5000, "text/plain")
    assert alice.post(f"/threads/{thread_id}/messages", json={"content": "Read it", "attachments": [big]}).status_code == 201
    text = question(llm)["content"]
    assert max(len(run) for run in re.findall("x+", text)) == 2000  # ASSISTANT_HISTORY_CHARS
    assert "[… cut: the attachments' share of the context is used up]" in text


def test_another_users_files_are_refused_and_never_sent(app, alice, llm):
    bob = ApiClient(app)
    secret = upload(bob, "secret.txt", b"bob's secret", "text/plain")
    thread_id = alice.new_thread()["id"]
    requests_before = len(llm.requests)
    assert_error(
        alice.post(f"/threads/{thread_id}/messages", json={"content": "hi", "attachments": [secret]}),
        400, "invalid_request", "attachments",
    )
    assert len(llm.requests) == requests_before and alice.get(f"/threads/{thread_id}/items").get_json()["data"] == []
    # Named in an item's metadata by hand, another user's file is skipped, not sent.
    item = alice.new_item(thread_id, "look at this", metadata={"attachments": [secret]})
    assert alice.post(f"/threads/{thread_id}/items/{item['id']}/replies", json={}).status_code == 201
    assert question(llm)["content"] == "look at this"


def test_files_sent_from_the_chat_page_reach_the_model(app, llm):
    llm.script("reply", deltas=["Got it."])
    client = app.test_client()
    email = register(client)
    files = [(io.BytesIO(b"meeting at noon"), "agenda.txt", "text/plain"), (io.BytesIO(PNG), "map.png", "image/png")]
    response = client.post(
        "/threads",
        data={"content": "Here are my files", "csrf_token": csrf_token(client, "/"), "files": files},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303  # a plain form: stored, answered whole, redirected
    text = question(llm)["content"]
    assert text.startswith("Here are my files") and "meeting at noon" in text and '"map.png"' in text
    api = ApiClient(app, user_id_for(app, email))
    thread_id = response.headers["Location"].split("/t/")[1].split("#")[0]
    items = api.get(f"/threads/{thread_id}/items").get_json()["data"]
    named = items[0]["metadata"]["attachments"]
    assert [api.get(f"/attachments/{attachment_id}").get_json()["filename"] for attachment_id in named] == ["agenda.txt", "map.png"]

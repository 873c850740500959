"""Attachments over the JSON API on SQLite and PostgreSQL: upload, metadata, download, delete, limits."""

from __future__ import annotations

import io

import pytest
from pydantic import TypeAdapter

from chatapp.store import AttachmentRecord
from support.api_client import ApiClient, assert_error

Attachment = TypeAdapter(AttachmentRecord)  # the documented answer

APP_CONFIG = {"MAX_ATTACHMENT_BYTES": 2048, "MAX_CONTENT_LENGTH": 8192}


@pytest.fixture(scope="module")
def alice(app) -> ApiClient:
    return ApiClient(app)


def upload(api: ApiClient, content: bytes, filename: str = "notes.txt", content_type: str = "text/plain", **fields):
    data = {"file": (io.BytesIO(content), filename, content_type), **fields}
    return api.post("/attachments", data=data, content_type="multipart/form-data")


def test_attachment_lifecycle(alice):
    thread_id = alice.new_thread()["id"]
    created = upload(alice, b"hello, file", thread_id=thread_id)
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    Attachment.validate_python(body)
    assert (body["filename"], body["content_type"], body["size"], body["thread_id"]) == (
        "notes.txt",
        "text/plain",
        11,
        thread_id,
    )
    assert body["id"].startswith("att_") and body["created_at"].endswith("+00:00")
    assert alice.get(f"/attachments/{body['id']}").get_json() == body

    content = alice.get(f"/attachments/{body['id']}/content")
    assert content.status_code == 200 and content.data == b"hello, file"
    assert content.mimetype == "text/plain"
    assert content.headers["Content-Disposition"].startswith("attachment;")
    assert "notes.txt" in content.headers["Content-Disposition"]
    assert content.headers["X-Content-Type-Options"] == "nosniff"

    assert alice.delete(f"/attachments/{body['id']}").status_code == 204
    assert_error(alice.get(f"/attachments/{body['id']}"), 404, "not_found")
    assert_error(alice.get(f"/attachments/{body['id']}/content"), 404, "not_found")
    assert_error(alice.delete(f"/attachments/{body['id']}"), 404, "not_found")


def test_upload_without_a_thread_keeps_binary_content_exactly(alice):
    payload = bytes(range(256)) * 4
    created = upload(alice, payload, filename="blob.bin", content_type="application/x-custom+bin")
    assert created.status_code == 201
    assert created.get_json()["thread_id"] is None
    content = alice.get(f"/attachments/{created.get_json()['id']}/content")
    assert content.data == payload and content.mimetype == "application/x-custom+bin"


def test_hostile_filenames_and_content_types_are_cleaned(alice):
    created = upload(alice, b"<script>", filename="../../etc/pa\x07sswd.html", content_type="not a media type")
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["filename"] == "passwd.html"
    assert body["content_type"] == "application/octet-stream"
    content = alice.get(f"/attachments/{body['id']}/content")
    assert content.mimetype == "application/octet-stream"


def test_deleting_the_thread_removes_its_attachments(alice):
    thread_id = alice.new_thread()["id"]
    attachment_id = upload(alice, b"x", thread_id=thread_id).get_json()["id"]
    assert alice.delete(f"/threads/{thread_id}").status_code == 204
    assert_error(alice.get(f"/attachments/{attachment_id}"), 404, "not_found")


def test_attachment_over_the_limit_is_413(alice):
    assert_error(upload(alice, b"x" * 2049), 413, "payload_too_large", "file")
    assert upload(alice, b"x" * 2048).status_code == 201


def test_request_over_max_content_length_is_413_json(alice):
    assert_error(upload(alice, b"x" * 9000), 413, "payload_too_large")


def test_upload_errors(alice):
    assert_error(alice.post("/attachments", data={"thread_id": "thr_x"}, content_type="multipart/form-data"), 400, "invalid_request", "file")
    assert_error(alice.post("/attachments", data={"file": "just text"}, content_type="multipart/form-data"), 400, "invalid_request", "file")
    assert_error(upload(alice, b"x", thread_id="thr_missing"), 404, "not_found")
    assert_error(upload(alice, b"x", thread_id="bad id!"), 400, "invalid_request", "thread_id")
    assert_error(upload(alice, b"x", colour="red"), 400, "invalid_request", "colour")
    assert_error(alice.post("/attachments", json={"file": "x"}), 400, "invalid_request", "file")


def test_attachments_need_a_token(app, alice):
    attachment_id = upload(alice, b"secret").get_json()["id"]
    client = app.test_client()
    assert_error(client.get(f"/api/v1/attachments/{attachment_id}/content"), 401, "unauthorized")
    data = {"file": (io.BytesIO(b"x"), "a.txt", "text/plain")}
    assert_error(client.post("/api/v1/attachments", data=data, content_type="multipart/form-data"), 401, "unauthorized")

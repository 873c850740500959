"""Versions and attachments in the browser UI through Flask's test client, on SQLite and PostgreSQL:
the `< k/n >` forms, Edit and Regenerate as plain forms (no script) and as the script's JSON,
files sent with a message, their chips, downloads and thumbnails, limits, CSRF and isolation."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from chatapp.assistant.offline import OfflineAssistant
from chatapp.extensions import db
from chatapp.services import ASSISTANT_KEY, chat_store
from support.sample_files import HTML_AS_IMAGE, png
from support.ui import csrf_token, page_text, start_chat

APP_CONFIG = {"MAX_ATTACHMENT_BYTES": 4000, "MAX_CONTENT_LENGTH": 20_000}
PNG = png()
JSON = {"Accept": "application/json"}


@pytest.fixture(autouse=True)
def prompt_demo_responder(app: Flask) -> None:
    app.extensions[ASSISTANT_KEY] = OfflineAssistant(chunk_delay=0)


def branch(app: Flask, user_id: str, thread_id: str):
    with app.app_context():
        items = chat_store().list_branch(user_id, thread_id, limit=100, order="asc").data
        db.session.remove()
    return items


def shown(html: str) -> list[tuple[str, str]]:
    """(role, version label or "") of each message on a page, in order."""
    found = []
    for match in re.finditer(r'<article class="msg msg-(user|assistant)"(.*?)</article>', html, re.S):
        label = re.search(r'<span class="version-label">(.*?)</span>\s*<button', match.group(2), re.S)
        text = re.sub(r"<[^>]+>", "", label.group(1)).replace("Version ", "").replace(" of ", "") if label else ""
        found.append((match.group(1), text))
    return found


def regenerate(client: FlaskClient, thread_id: str, question_id: str, **kwargs):
    data = {"item_id": question_id, "csrf_token": csrf_token(client, f"/t/{thread_id}")}
    return client.post(f"/t/{thread_id}/reply", data=data, **kwargs)


# -- regenerate and versions -----------------------------------------------------------------


def test_regenerate_without_the_script_shows_the_new_reply_as_two_of_two(app, alice):
    thread_id = start_chat(alice, "Tell me something")
    page = page_text(alice.get(f"/t/{thread_id}"))
    assert page.count("data-regenerate") == 1 and ">Regenerate<" in page  # under the last reply only
    question, first = branch(app, alice.user_id, thread_id)
    assert regenerate(alice, thread_id, question.id).status_code == 303
    page = page_text(alice.get(f"/t/{thread_id}"))
    assert shown(page) == [("user", ""), ("assistant", "2/2")]
    assert 'aria-hidden="true">‹</span><span class="visually-hidden">Previous version</span>' in page
    items = branch(app, alice.user_id, thread_id)
    assert [item.id for item in items][0] == question.id and items[1].id != first.id

    # No script: the ‹ button is a form; the answer is the chat at the version chosen.
    data = {"item_id": items[1].id, "version": "1", "csrf_token": csrf_token(alice, f"/t/{thread_id}")}
    switched = alice.post(f"/t/{thread_id}/versions", data=data)
    assert switched.status_code == 303 and switched.location == f"/t/{thread_id}#{first.id}"
    page = page_text(alice.get(f"/t/{thread_id}"))
    assert shown(page) == [("user", ""), ("assistant", "1/2")] and f'id="{first.id}"' in page
    # The script's form of the same request answers JSON.
    data["version"] = "2"
    answer = alice.post(f"/t/{thread_id}/versions", data={**data, "item_id": first.id}, headers=JSON)
    assert answer.status_code == 200
    assert answer.get_json()["item"]["version"] == 2 and answer.get_json()["thread_url"] == f"/t/{thread_id}"


def test_version_forms_refuse_bad_input_and_other_users(app, alice, bob):
    thread_id = start_chat(alice, "Hello")
    question, reply = branch(app, alice.user_id, thread_id)
    token = csrf_token(alice, f"/t/{thread_id}")
    for version in ("", "two", "-1", "3"):
        response = alice.post(f"/t/{thread_id}/versions", data={"item_id": reply.id, "version": version, "csrf_token": token})
        assert response.status_code == 400, version
    assert alice.post(f"/t/{thread_id}/versions", data={"item_id": reply.id, "version": "1"}).status_code == 400  # no CSRF token
    bobs = {"item_id": reply.id, "version": "1", "csrf_token": csrf_token(bob, "/")}
    assert bob.post(f"/t/{thread_id}/versions", data=bobs).status_code == 404
    assert bob.get(f"/t/{thread_id}/items/{question.id}/edit").status_code == 404
    edit = {"content": "mine now", "csrf_token": csrf_token(bob, "/")}
    assert bob.post(f"/t/{thread_id}/items/{question.id}/edit", data=edit).status_code == 404
    assert bob.post(f"/t/{thread_id}/reply", data={"item_id": question.id, "csrf_token": csrf_token(bob, "/")}).status_code == 404
    assert len(branch(app, alice.user_id, thread_id)) == 2


# -- edit ------------------------------------------------------------------------------------


def test_edit_without_the_script_branches_and_keeps_the_old_branch(app, alice):
    thread_id = start_chat(alice, "Plan a trip to Rome")
    question, reply = branch(app, alice.user_id, thread_id)
    page = page_text(alice.get(f"/t/{thread_id}"))
    assert f'href="/t/{thread_id}/items/{question.id}/edit" data-edit>Edit' in page
    form = page_text(alice.get(f"/t/{thread_id}/items/{question.id}/edit"))
    assert "<h1>Edit message</h1>" in form and ">Plan a trip to Rome</textarea>" in form
    item_id = re.search(r'name="item_id" value="([^"]+)"', form).group(1)
    data = {"content": "Plan a trip to Lisbon", "item_id": item_id, "csrf_token": csrf_token(alice, f"/t/{thread_id}")}
    response = alice.post(f"/t/{thread_id}/items/{question.id}/edit", data=data)
    assert response.status_code == 303 and response.location == f"/t/{thread_id}#latest"
    assert alice.post(f"/t/{thread_id}/items/{question.id}/edit", data=data).status_code == 303  # a resubmit: nothing twice
    items = branch(app, alice.user_id, thread_id)
    assert [(item.role, item.version, item.versions) for item in items] == [("user", 2, 2), ("assistant", 1, 1)]
    assert items[0].content == "Plan a trip to Lisbon" and items[0].parent_id is None
    assert "Lisbon" in items[1].content  # the reply answered the edit
    with app.app_context():
        assert len(chat_store().list_items(alice.user_id, thread_id).data) == 4  # both questions, both replies
        db.session.remove()
    page = page_text(alice.get(f"/t/{thread_id}"))
    assert shown(page) == [("user", "2/2"), ("assistant", "")]
    data = {"item_id": items[0].id, "version": "1", "csrf_token": csrf_token(alice, f"/t/{thread_id}")}
    alice.post(f"/t/{thread_id}/versions", data=data)
    old = branch(app, alice.user_id, thread_id)
    assert [item.id for item in old] == [question.id, reply.id]  # the old branch, reply and all


def test_edit_as_the_script_answers_the_new_version_and_refuses_what_cannot_be_edited(app, alice):
    thread_id = start_chat(alice, "First question")
    question, reply = branch(app, alice.user_id, thread_id)
    token = csrf_token(alice, f"/t/{thread_id}")
    answer = alice.post(f"/t/{thread_id}/items/{question.id}/edit", data={"content": "Better question", "csrf_token": token}, headers=JSON)
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["item"]["content"] == "Better question" and body["item"]["parent_id"] is None
    assert '<span class="version-label"><span class="visually-hidden">Version </span>2' in body["html"]
    assert body["reply_url"] == f"/t/{thread_id}/reply"  # the script then asks for the reply
    empty = alice.post(f"/t/{thread_id}/items/{question.id}/edit", data={"content": "  ", "csrf_token": token})
    assert empty.status_code == 400 and "Type a message before sending." in page_text(empty)
    assert alice.get(f"/t/{thread_id}/items/{reply.id}/edit").status_code == 400  # a reply is not yours to edit
    assert alice.post(f"/t/{thread_id}/items/{reply.id}/edit", data={"content": "x", "csrf_token": token}).status_code == 400
    assert alice.post(f"/t/{thread_id}/items/{question.id}/edit", data={"content": "no token"}).status_code == 400


def test_items_after_a_stop_list_the_branch_only(app, alice):
    thread_id = start_chat(alice, "Question")
    question, first = branch(app, alice.user_id, thread_id)
    regenerate(alice, thread_id, question.id)
    body = alice.get(f"/t/{thread_id}/items?after={question.id}", headers=JSON).get_json()
    assert [entry["item"]["id"] for entry in body["items"]] != [first.id]
    assert len(body["items"]) == 1 and "2</span>" in body["items"][0]["html"] and "data-regenerate" in body["items"][0]["html"]


# -- attachments -----------------------------------------------------------------------------


def send_files(client: FlaskClient, thread_id: str, files, content: str = "See attached", **kwargs):
    data = {"content": content, "csrf_token": csrf_token(client, f"/t/{thread_id}"), "files": files, **kwargs.pop("data", {})}
    return client.post(f"/t/{thread_id}/messages", data=data, content_type="multipart/form-data", **kwargs)


def test_files_sent_with_a_message_show_as_chips_with_thumbnails_for_images(app, alice):
    thread_id = start_chat(alice, "Hello")
    files = [
        (io.BytesIO(PNG), "photo.png", "image/png"),
        (io.BytesIO(b"some notes"), "../notes.txt", "text/plain"),
        (io.BytesIO(HTML_AS_IMAGE), "fake.png", "image/png"),
        (io.BytesIO(b""), "", "application/octet-stream"),  # an empty file field: skipped
    ]
    assert send_files(alice, thread_id, files).status_code == 303
    question = [item for item in branch(app, alice.user_id, thread_id) if item.role == "user"][-1]
    named = question.metadata["attachments"]
    assert len(named) == 3
    page = page_text(alice.get(f"/t/{thread_id}"))
    chips = re.findall(r'<li class="attachment( attachment-image)?">(.*?)</li>', page, re.S)
    names = [unescape(re.search(r'<span class="visually-hidden">Download </span>(.*?)</a>', chip).group(1)) for _, chip in chips]
    assert names == ["photo.png", "notes.txt", "fake.png"]
    assert [bool(image) for image, _ in chips] == [True, False, False]  # thumbnails by the bytes, not the claim
    assert f'src="/attachments/{named[0]}/thumbnail"' in page and f"/attachments/{named[2]}/thumbnail" not in page

    thumbnail = alice.get(f"/attachments/{named[0]}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail.data == PNG and thumbnail.mimetype == "image/png"
    assert thumbnail.headers["X-Content-Type-Options"] == "nosniff"
    assert thumbnail.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert thumbnail.headers["Content-Disposition"] == "inline"
    assert alice.get(f"/attachments/{named[2]}/thumbnail").status_code == 404  # HTML claiming to be a PNG
    assert alice.get(f"/attachments/{named[1]}/thumbnail").status_code == 404

    download = alice.get(f"/attachments/{named[2]}")
    assert download.status_code == 200 and download.data == HTML_AS_IMAGE
    assert download.headers["Content-Disposition"] == "attachment; filename=fake.png"
    assert download.headers["X-Content-Type-Options"] == "nosniff" and download.mimetype == "image/png"
    assert download.headers["Cache-Control"] == "private, no-store"


def test_files_are_the_users_own(app, alice, bob, client):
    thread_id = start_chat(alice, "Hello")
    send_files(alice, thread_id, [(io.BytesIO(PNG), "private.png", "image/png")])
    attachment_id = branch(app, alice.user_id, thread_id)[-2].metadata["attachments"][0]
    for path in (f"/attachments/{attachment_id}", f"/attachments/{attachment_id}/thumbnail"):
        assert bob.get(path).status_code == 404
        signed_out = client.get(path)
        assert signed_out.status_code == 302 and signed_out.location.startswith("/login")
    assert bob.get("/attachments/att_missing").status_code == 404


def test_a_resubmitted_form_stores_its_files_once(app, alice):
    thread_id = start_chat(alice, "Hello")
    composer = page_text(alice.get(f"/t/{thread_id}")).split('id="composer"')[1]
    item_id = re.search(r'name="item_id" value="([^"]+)"', composer).group(1)
    for _ in range(2):
        response = send_files(alice, thread_id, [(io.BytesIO(b"abc"), "a.txt", "text/plain")], data={"item_id": item_id})
        assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        store = chat_store()
        items = store.list_items(alice.user_id, thread_id).data
        named = items[2].metadata["attachments"]
        assert [item.id for item in items].count(item_id) == 1 and len(items) == 4  # one message, one reply
        assert [record.filename for record, _ in store.read_attachments(alice.user_id, named)] == ["a.txt"]
        db.session.remove()


def test_files_over_the_limits_are_refused_and_the_text_is_kept(app, alice):
    thread_id = start_chat(alice, "Hello")
    big = send_files(alice, thread_id, [(io.BytesIO(b"x" * 4001), "big.txt", "text/plain")], content="keep me")
    assert big.status_code == 413
    page = page_text(big)
    assert "“big.txt” is larger than the 4,000-byte limit for attachments. Attach your files again." in page
    assert ">keep me</textarea>" in page
    many = [(io.BytesIO(b"a"), f"f{n}.txt", "text/plain") for n in range(11)]
    refused = send_files(alice, thread_id, many, headers=JSON)
    assert refused.status_code == 400 and refused.get_json()["error"]["details"]["field"] == "files"
    too_much = send_files(alice, thread_id, [(io.BytesIO(b"y" * 3900), f"g{n}.txt", "text/plain") for n in range(6)], headers=JSON)
    assert too_much.status_code == 413  # the whole request is over MAX_CONTENT_LENGTH
    assert len(branch(app, alice.user_id, thread_id)) == 2  # nothing stored by any of them
    with app.app_context():
        assert chat_store().read_attachments(alice.user_id, [f"att_{n}" for n in range(3)]) == []
        db.session.remove()


def test_the_composer_offers_files_without_the_script(alice):
    page = page_text(alice.get("/"))
    assert 'enctype="multipart/form-data"' in page
    assert '<input id="composer-files" type="file" name="files" multiple>' in page
    assert 'data-max-file-bytes="4000" data-max-files="10"' in page

"""Search, export and import in the browser UI, through Flask's test client with CSRF on, on SQLite
and PostgreSQL: the search box and results page, the chat's Export menu, Settings' "Your data"."""

from __future__ import annotations

import io
import json
import re
import zipfile
from html import unescape

import pytest

from chatapp.extensions import db
from chatapp.services import chat_store
from support.ui import add_items, csrf_token, register, start_chat, user_id_for

APP_CONFIG = {"MAX_MESSAGE_CHARS": 500}


@pytest.fixture
def member(app):
    """A client with a fresh user signed in: (client, email, user id)."""
    client = app.test_client()
    email = register(client)
    return client, email, user_id_for(app, email)


def text_of(response) -> str:
    return response.get_data(as_text=True)


def test_the_search_box_is_on_every_signed_in_page(member):
    client, _, _ = member
    thread_id = start_chat(client, "first words")
    for path in ("/", "/threads", f"/t/{thread_id}", "/settings", "/search"):
        page = text_of(client.get(path))
        assert 'role="search"' in page and 'name="q"' in page and 'action="/search"' in page, path


def test_results_show_marked_snippets_of_the_users_own_messages_only(app, member):
    client, _, user_id = member
    thread_id = start_chat(client, "Planning a trip to Goa")
    add_items(app, user_id, thread_id, [("assistant", "Goa has great beaches <script>alert(1)</script>"), ("user", "नमस्ते गोवा")])
    other = app.test_client()
    register(other)
    other_thread = start_chat(other, "Goa secret of somebody else")
    response = client.get("/search", query_string={"q": "goa"})
    assert response.status_code == 200
    page = text_of(response)
    assert page.count('class="search-hit"') >= 2  # the demo responder's reply may quote the question
    assert "<mark>Goa</mark> has great beaches &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "somebody else" not in page and other_thread not in page
    assert f'href="/t/{thread_id}?at=' in page
    assert "Planning a trip to Goa" in page  # the chat's title
    hindi = text_of(client.get("/search", query_string={"q": "गोवा"}))
    assert "<mark>गोवा</mark>" in hindi


def test_a_hit_opens_its_chat_at_that_message_even_when_it_is_old(app, member):
    client, _, user_id = member
    thread_id = start_chat(client, "a long chat")
    before = [("user", f"earlier {n}") for n in range(60)]
    add_items(app, user_id, thread_id, before + [("user", "the needle zebra")] + [("user", f"filler {n}") for n in range(80)])
    [href] = re.findall(r'class="search-hit-link" href="([^"]+)"', text_of(client.get("/search", query_string={"q": "zebra"})))
    target, _, anchor = unescape(href).partition("#")
    page = text_of(client.get(target))
    assert f'id="{anchor}"' in page and "the needle zebra" in page
    assert "filler 0" not in page and "earlier 59" in page  # the page ends at the hit, not at the newest
    assert "Jump to the latest messages" in page and "Load earlier" in page


def test_results_page_by_keyset(app, member):
    client, _, user_id = member
    thread_id = start_chat(client, "pages")
    add_items(app, user_id, thread_id, [("user", f"kiwi number {n}") for n in range(25)])
    first = text_of(client.get("/search", query_string={"q": "kiwi"}))
    assert first.count('class="search-hit"') == 20
    [more] = re.findall(r'href="(/search\?[^"]+)">More results', first)
    second = text_of(client.get(unescape(more)))
    assert second.count('class="search-hit"') == 5 and "More results" not in second


def test_a_bad_search_says_why(member):
    client, _, _ = member
    for query in ({"q": "-only"}, {"q": "!!"}, {"q": "kiwi", "after": "forged.cursor"}, {"q": "x" * 201}):
        response = client.get("/search", query_string=query)
        assert response.status_code == 400
        assert 'class="form-error" role="alert"' in text_of(response)
    assert client.get("/search").status_code == 200  # no query yet: just the form


def test_the_export_menu_downloads_the_chat(app, member):
    client, _, user_id = member
    thread_id = start_chat(client, "Export me, नमस्ते")
    add_items(app, user_id, thread_id, [("assistant", "Sure.")])
    page = text_of(client.get(f"/t/{thread_id}"))
    assert f'href="/t/{thread_id}/export"' in page and f'href="/t/{thread_id}/export?format=markdown"' in page
    exported = client.get(f"/t/{thread_id}/export")
    assert exported.mimetype == "application/json"
    assert exported.headers["Content-Disposition"] == f'attachment; filename="{thread_id}.json"'
    document = json.loads(exported.data)
    assert [item["content"] for item in document["items"]][:1] == ["Export me, नमस्ते"]
    markdown = client.get(f"/t/{thread_id}/export", query_string={"format": "markdown"})
    assert markdown.mimetype == "text/markdown" and "## user · " in text_of(markdown)
    assert client.get(f"/t/{thread_id}/export", query_string={"format": "pdf"}).status_code == 400
    stranger = app.test_client()
    register(stranger)
    assert stranger.get(f"/t/{thread_id}/export").status_code == 404


def test_settings_download_everything_as_a_zip(app, member):
    client, _, _ = member
    threads = [start_chat(client, f"chat {n}") for n in range(2)]
    page = text_of(client.get("/settings"))
    assert 'href="/settings/export"' in page and "Download all your chats" in page
    response = client.get("/settings/export")
    assert response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.namelist()) == sorted(f"{thread}.json" for thread in threads)


def upload(client, data: bytes, name: str = "chat.json", token: str | None = None):
    form = {"file": (io.BytesIO(data), name), "csrf_token": token or csrf_token(client, "/settings")}
    return client.post("/settings/import", data=form, content_type="multipart/form-data")


def test_settings_import_brings_an_exported_chat_back_as_a_new_one(app, member):
    client, _, user_id = member
    thread_id = start_chat(client, "Bring me back")
    add_items(app, user_id, thread_id, [("assistant", "I am back.")])
    exported = client.get(f"/t/{thread_id}/export").data
    response = upload(client, exported)
    assert response.status_code == 303
    new_id = response.location.rsplit("/", 1)[-1]
    assert new_id != thread_id
    with app.app_context():
        original = [(i.seq, i.role, i.content) for i in chat_store().list_items(user_id, thread_id).data]
        copy = [(i.seq, i.role, i.content) for i in chat_store().list_items(user_id, new_id).data]
        db.session.remove()
    assert copy == original and len(copy) >= 2
    page = text_of(client.get(response.location))
    assert f"Imported “Bring me back”: {len(copy)} messages." in page and "I am back." in page


def test_a_bad_import_file_says_why_and_imports_nothing(app, member):
    client, _, user_id = member
    start_chat(client, "only chat")
    cases = [
        (b"not json at all", "Invalid JSON"),
        (json.dumps({"format": "chatapp.thread", "version": 2, "thread": {}}).encode(), "version"),
        (b"{}", "format"),
    ]
    for data, reason in cases:
        response = upload(client, data)
        assert response.status_code == 400
        error = re.search(r'class="form-error" role="alert">([^<]+)<', text_of(response)).group(1)
        assert "cannot be imported" in error and reason in unescape(error), error
    assert upload(client, b"", name="").status_code == 400
    assert client.post("/settings/import", data={"file": (io.BytesIO(b"{}"), "x.json")},
                       content_type="multipart/form-data").status_code == 400  # no CSRF token
    with app.app_context():
        assert len(chat_store().list_threads(user_id).data) == 1
        db.session.remove()

"""The UI's chats through Flask's test client, on SQLite and PostgreSQL: start, send, page, render, rename, delete."""

from __future__ import annotations

import re
import secrets
from html import unescape

import pytest

from chatapp.extensions import db
from chatapp.services import chat_store
from chatapp.ui.markdown import is_safe_link, render_markdown
from support.ui import (
    UI_CONFIG,
    add_items,
    csrf_token,
    message_texts,
    page_text,
    start_chat,
)

APP_CONFIG = UI_CONFIG
pytestmark = pytest.mark.usefixtures("demo_responder")


# -- chats -----------------------------------------------------------------------------------


def test_start_page_has_composer_and_new_chat(alice):
    page = page_text(alice.get("/"))
    assert '<label for="message" class="visually-hidden">Message</label>' in page
    assert '<textarea id="message" name="content"' in page
    assert ">Send</button>" in page
    assert ">New chat</a>" in page
    assert "No chats yet." in page


def test_pages_have_a_main_landmark_an_announcer_and_the_account_menu(alice):
    thread_id = start_chat(alice, "landmarks")
    for path in ("/", f"/t/{thread_id}", "/settings", "/threads"):
        page = page_text(alice.get(path))
        main = re.search(r'<main id="main" tabindex="-1">(.*?)</main>', page, re.S)
        assert main, path
        assert '<div id="announcer" class="visually-hidden" aria-live="polite" aria-atomic="true"></div>' in main.group(1)
        # The phone's account menu reaches Settings and Log out (a CSRF-protected POST) without script.
        menu = re.search(r'<details class="account-menu" data-menu>(.*?)</details>', page, re.S).group(1)
        assert 'href="/settings"' in menu and re.search(r'<form method="post" action="/logout">\s*<input type="hidden" name="csrf_token"', menu)
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
        assert '<dialog id="shortcuts"' in page and "<kbd>Shift</kbd> <kbd>Esc</kbd>" in page
    for path in ("/", f"/t/{thread_id}"):
        main = re.search(r"<main id=\"main\"[^>]*>(.*?)</main>", page_text(alice.get(path)), re.S).group(1)
        assert 'aria-label="Conversation"' in main and 'id="composer"' in main  # both inside <main>
    with alice.get("/static/favicon.svg") as icon:
        assert icon.status_code == 200


def test_composer_counts_near_the_limit_instead_of_cutting_a_paste(app, alice):
    page = page_text(alice.get("/"))
    textarea = re.search(r"<textarea[^>]*>", page).group(0)
    assert "maxlength" not in textarea  # a long paste is kept whole; the server refuses it with the text kept
    assert f'data-max-chars="{app.config["MAX_MESSAGE_CHARS"]}"' in page
    assert '<p class="composer-count" id="composer-count" hidden></p>' in page and "composer-count" in textarea
    assert '<button type="button" class="button button-stop" data-stop hidden>Stop</button>' in page


def test_empty_start_page_does_not_promise_a_sidebar_on_phones(alice):
    page = page_text(alice.get("/"))
    assert '<span class="only-wide">find them in the sidebar.</span>' in page
    assert '<span class="only-narrow">find them under “Chats” at the top.</span>' in page


def test_messages_carry_their_time(app, alice):
    thread_id = start_chat(alice, "what time is it?")
    page = page_text(alice.get(f"/t/{thread_id}"))
    times = re.findall(r'<div class="msg-meta">\s*<time datetime="([^"]+)" title="([^"]+)" data-relative>([^<]+)</time>', page)
    assert len(times) == 2  # the question and its reply
    for moment, title, label in times:
        assert moment.startswith("20") and title.endswith(" UTC") and label == "just now"


def test_script_start_answers_the_header_to_show(alice):
    response = alice.post(
        "/threads", data={"content": "a header please", "csrf_token": csrf_token(alice, "/")}, headers={"Accept": "application/json"}
    )
    body = response.get_json()
    thread_id = body["thread"]["id"]
    assert '<h1 class="thread-heading">a header please</h1>' in body["header_html"]
    assert f'action="/t/{thread_id}/rename"' in body["header_html"] and f'href="/t/{thread_id}/delete"' in body["header_html"]
    assert 'name="csrf_token"' in body["header_html"] and body["items_url"] == f"/t/{thread_id}/items"


def test_new_chat_takes_its_title_from_the_first_message(alice):
    thread_id = start_chat(alice, "Plan a <b>trip</b> to Lisbon\nwith details")
    page = page_text(alice.get(f"/t/{thread_id}"))
    assert "<title>Plan a &lt;b&gt;trip&lt;/b&gt; to Lisbon · chatapp</title>" in page
    assert message_texts(page) == ["Plan a <b>trip</b> to Lisbon\nwith details"]
    assert "<b>trip</b>" not in page  # user text is escaped
    sidebar = page_text(alice.get("/"))
    assert f'href="/t/{thread_id}"' in sidebar and "Plan a &lt;b&gt;trip&lt;/b&gt; to Lisbon" in sidebar


def test_resubmitted_start_form_creates_one_chat_one_message_and_one_reply(app, alice):
    token = csrf_token(alice, "/")
    form = {"content": "only once", "csrf_token": token, "thread_id": "thr_" + secrets.token_hex(16), "item_id": "msg_" + secrets.token_hex(16)}
    first = alice.post("/threads", data=form)
    second = alice.post("/threads", data=form)
    assert first.status_code == second.status_code == 303
    assert first.location == second.location == f"/t/{form['thread_id']}#latest"
    with app.app_context():
        page = chat_store().list_items(alice.user_id, form["thread_id"])
        threads = chat_store().list_threads(alice.user_id)
        db.session.remove()
    assert [(item.role, item.content) for item in page.data][0] == ("user", "only once")
    assert [item.role for item in page.data] == ["user", "assistant"]  # the resubmit asked for no second reply
    assert [thread.id for thread in threads.data] == [form["thread_id"]]


def test_send_message_as_form_and_as_script(app, alice):
    thread_id = start_chat(alice, "first")
    token = csrf_token(alice, f"/t/{thread_id}")
    response = alice.post(f"/t/{thread_id}/messages", data={"content": "second", "csrf_token": token})
    assert response.status_code == 303 and response.location == f"/t/{thread_id}#latest"

    item_id = "msg_" + secrets.token_hex(16)
    data = {"content": "third <i>x</i>", "csrf_token": token, "item_id": item_id}
    sent = alice.post(f"/t/{thread_id}/messages", data=data, headers={"Accept": "application/json"})
    assert sent.status_code == 201
    body = sent.get_json()
    assert body["item"]["id"] == item_id and body["item"]["role"] == "user"
    assert f'id="{item_id}"' in body["html"] and "third &lt;i&gt;x&lt;/i&gt;" in body["html"]
    assert body["post_url"] == f"/t/{thread_id}/messages" and body["next_item_id"] != item_id
    again = alice.post(f"/t/{thread_id}/messages", data=data, headers={"Accept": "application/json"})
    assert again.status_code == 201 and again.get_json()["item"]["seq"] == body["item"]["seq"]

    assert message_texts(page_text(alice.get(f"/t/{thread_id}"))) == ["first", "second", "third <i>x</i>"]


def test_script_start_returns_the_new_chat(alice):
    response = alice.post(
        "/threads",
        data={"content": "from the script", "csrf_token": csrf_token(alice, "/")},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["thread"]["title"] == "from the script"
    assert body["thread_url"] == f"/t/{body['thread']['id']}"
    assert f'href="/t/{body["thread"]["id"]}"' in body["sidebar_html"]


@pytest.mark.parametrize("content, message", [("   \n ", "Type a message before sending."), ("x" * 501, "limited to 500 characters")])
def test_unsendable_messages_show_an_error_and_keep_the_text(app, alice, content, message):
    thread_id = start_chat(alice, "existing")
    token = csrf_token(alice, "/")
    response = alice.post(f"/t/{thread_id}/messages", data={"content": content, "csrf_token": token})
    assert response.status_code == 400
    page = page_text(response)
    assert message in page
    assert f">{content}</textarea>" in page  # the typed text is still there
    assert message_texts(page) == ["existing"]

    scripted = alice.post(
        f"/t/{thread_id}/messages", data={"content": content, "csrf_token": token}, headers={"Accept": "application/json"}
    )
    assert scripted.status_code == 400 and message in scripted.get_json()["error"]["message"]

    start = alice.post("/threads", data={"content": content, "csrf_token": token})
    assert start.status_code == 400 and f">{content}</textarea>" in page_text(start)
    with app.app_context():
        threads = chat_store().list_threads(alice.user_id)
        items = chat_store().list_items(alice.user_id, thread_id)
        db.session.remove()
    assert len(threads.data) == 1 and [item.role for item in items.data] == ["user", "assistant"]  # nothing written


def test_thread_page_shows_the_newest_and_pages_back_by_keyset(app, alice):
    thread_id = start_chat(alice, "message 1")
    add_items(app, alice.user_id, thread_id, [("user", f"message {n}") for n in range(2, 121)])
    html = page_text(alice.get(f"/t/{thread_id}"))
    assert message_texts(html) == [f"message {n}" for n in range(71, 121)]  # oldest at top
    seen = message_texts(html)
    pages = 1
    while (match := re.search(r'href="(/t/[^"]+\?before=[^"]+)"[^>]*>Load earlier</a>', html)):
        html = page_text(alice.get(unescape(match.group(1))))
        assert "Jump to the latest messages" in html
        seen = message_texts(html) + seen
        pages += 1
    assert pages == 3
    assert seen == [f"message {n}" for n in range(1, 121)]
    assert alice.get(f"/t/{thread_id}?before=msg_unknown").status_code == 400


def test_assistant_markdown_renders_safely(app, alice):
    thread_id = start_chat(alice, "<script>alert('user')</script>")
    hostile = (
        "# Title\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
        "[x](javascript:alert(3)) [y](JAVASCRIPT:alert(4)) [z](data:text/html,hi) ![i](https://example.com/t.png)\n\n"
        "[ok](https://example.com/docs)\n\n```python\nprint('" + "x" * 150 + "')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    add_items(app, alice.user_id, thread_id, [("assistant", hostile)])
    html = page_text(alice.get(f"/t/{thread_id}"))
    # The Markdown as written is kept for the Copy button, as escaped text in an inert <template>.
    sources = re.findall(r'<template class="msg-source">(.*?)</template>', html, re.S)
    assert unescape(sources[-1]) == hostile and "<" not in sources[-1]
    page = re.sub(r'<template class="msg-source">.*?</template>', "", html, flags=re.S)
    assert "<script>alert" not in page and "<img" not in page
    assert "javascript:" not in page.lower() and "data:text" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert '<a href="https://example.com/docs" rel="nofollow noopener noreferrer">ok</a>' in page
    assert '<h1>Title</h1>' in page and "<table>" in page
    assert '<pre class="highlight" tabindex="0"><code class="language-python"><span class="nb">print</span>' in page
    assert "&lt;script&gt;alert(&#39;user&#39;)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    "url, safe",
    [
        ("https://example.com", True),
        ("http://example.com/a?b", True),
        ("mailto:me@example.com", True),
        ("/relative/path", True),
        ("#anchor", True),
        ("javascript:alert(1)", False),
        (" JavaScript:alert(1)", False),
        ("vbscript:x", False),
        ("data:text/html;base64,xx", False),
        ("file:///etc/passwd", False),
    ],
)
def test_link_validation(url, safe):
    assert is_safe_link(url) is safe


def test_markdown_escapes_raw_html():
    assert str(render_markdown("<b onclick=x>hi</b>")) == "<p>&lt;b onclick=x&gt;hi&lt;/b&gt;</p>\n"


def test_sidebar_lists_recent_chats_first_with_keyset_more(app, alice):
    with app.app_context():
        store = chat_store()
        ids = [store.create_thread(alice.user_id, title=f"chat {n:02d}").id for n in range(35)]
        store.add_item(alice.user_id, ids[0], content="bump", role="user")  # the oldest becomes the newest
        db.session.remove()
    home = page_text(alice.get("/"))
    sidebar = re.findall(r'href="/t/(thr_[0-9a-f]+)"', home.split('id="main"')[0])
    assert sidebar[0] == ids[0] and sidebar[1] == ids[34] and len(sidebar) == 30
    more = re.search(r'href="(/threads\?after=[^"]+)"[^>]*>More chats', home)
    assert more
    rest = page_text(alice.get(unescape(more.group(1))))
    listed = re.findall(r'href="/t/(thr_[0-9a-f]+)"', rest.split('id="all-threads"')[1])
    assert listed == list(reversed(ids[1:6]))
    assert sorted(sidebar + listed) == sorted(ids)
    assert "More chats</a>" not in rest.split('id="all-threads"')[1]
    assert re.search(r'<time class="thread-time" datetime="[^"]+"', home)  # each shows its last activity
    assert alice.get("/threads?after=thr_unknown").status_code == 400


def test_rename_and_empty_title(app, alice):
    thread_id = start_chat(alice, "original title")
    token = csrf_token(alice, f"/t/{thread_id}")
    response = alice.post(f"/t/{thread_id}/rename", data={"title": "Renamed <em>chat</em>", "csrf_token": token})
    assert response.status_code == 303 and response.location == f"/t/{thread_id}"
    assert '<h1 class="thread-heading">Renamed &lt;em&gt;chat&lt;/em&gt;</h1>' in page_text(alice.get(f"/t/{thread_id}"))
    too_long = alice.post(f"/t/{thread_id}/rename", data={"title": "t" * 201, "csrf_token": token}, follow_redirects=True)
    assert "title must be a string of at most 200 characters" in page_text(too_long)
    alice.post(f"/t/{thread_id}/rename", data={"title": "  ", "csrf_token": token})
    assert '<h1 class="thread-heading">New chat</h1>' in page_text(alice.get(f"/t/{thread_id}"))


def test_delete_asks_first_then_deletes(app, alice):
    thread_id = start_chat(alice, "short-lived")
    confirm = alice.get(f"/t/{thread_id}/delete")
    assert confirm.status_code == 200 and "Delete this chat?" in page_text(confirm)
    assert alice.get(f"/t/{thread_id}").status_code == 200  # asking deleted nothing
    response = alice.post(f"/t/{thread_id}/delete", data={"csrf_token": csrf_token(alice, "/")})
    assert response.status_code == 303 and response.location == "/"
    assert "Chat deleted." in page_text(alice.get("/"))
    gone = alice.get(f"/t/{thread_id}")
    assert gone.status_code == 404 and "We couldn’t find that" in page_text(gone)


def test_threads_page_lists_chats(alice):
    assert "No chats yet." in page_text(alice.get("/threads"))
    thread_id = start_chat(alice, "listed")
    assert f'href="/t/{thread_id}"' in page_text(alice.get("/threads")).split('id="all-threads"')[1]



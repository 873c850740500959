"""The browser UI through Flask's test client, on SQLite and PostgreSQL: every page and form.

CSRF protection stays on here, as in production: the helpers read the token from the pages.
"""

from __future__ import annotations

import re
import secrets
from html import unescape

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from chatapp.assistant.offline import OfflineAssistant
from chatapp.extensions import db
from chatapp.models import User
from chatapp.services import ASSISTANT_KEY, chat_store
from chatapp.store.accounts import AccountStore
from chatapp.ui.markdown import is_safe_link, render_markdown
from conftest import free_port, make_app

APP_CONFIG = {
    "MAX_MESSAGE_CHARS": 500,
    "LOGIN_LIMIT_PER_ACCOUNT": "3 per minute",
    "LOGIN_LIMIT_PER_ADDRESS": "8 per minute",
}
PASSWORD = "correct horse battery"
TOKEN_PATTERN = re.compile(r'name="csrf_token" value="([^"]+)"')


# -- helpers ---------------------------------------------------------------------------------


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    match = TOKEN_PATTERN.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def register(client: FlaskClient, email: str | None = None, password: str = PASSWORD) -> str:
    email = email or f"u{secrets.token_hex(5)}@example.com"
    response = client.post(
        "/register", data={"email": email, "password": password, "csrf_token": csrf_token(client, "/register")}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return email


def login(client: FlaskClient, email: str, password: str = PASSWORD, **extra):
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token, **extra})


def user_id_for(app: Flask, email: str) -> str:
    with app.app_context():
        user_id = AccountStore(db.session).find_user_by_email(email).id
        db.session.remove()
    return user_id


def start_chat(client: FlaskClient, content: str = "Hello there") -> str:
    """Send a first message from the start page; returns the new thread's id."""
    response = client.post("/threads", data={"content": content, "csrf_token": csrf_token(client, "/")})
    assert response.status_code == 303
    match = re.match(r"^/t/([^#]+)#latest$", response.location)
    assert match, response.location
    return match.group(1)


def add_items(app: Flask, user_id: str, thread_id: str, contents: list[tuple[str, str]]) -> None:
    with app.app_context():
        store = chat_store()
        for role, content in contents:
            store.add_item(user_id, thread_id, content=content, role=role)
        db.session.remove()


def page_text(response) -> str:
    return response.get_data(as_text=True)


def message_texts(html: str) -> list[str]:
    """The plain-text bodies of the user's messages, in page order."""
    return [unescape(m) for m in re.findall(r'<div class="msg-body plain" aria-label="You">(.*?)</div>', html, re.S)]


@pytest.fixture(autouse=True)
def prompt_demo_responder(app: Flask) -> None:
    """Plain-form sends get the whole reply (the offline demo responder here): without its pauses
    between chunks, which only make streaming visible in a browser."""
    app.extensions[ASSISTANT_KEY] = OfflineAssistant(chunk_delay=0)


def thread_items(app: Flask, user_id: str, thread_id: str):
    with app.app_context():
        items = chat_store().list_items(user_id, thread_id).data
        db.session.remove()
    return items


@pytest.fixture
def alice(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.email = register(client)  # type: ignore[attr-defined]
    client.user_id = user_id_for(app, client.email)  # type: ignore[attr-defined]
    return client


@pytest.fixture
def bob(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.email = register(client)  # type: ignore[attr-defined]
    client.user_id = user_id_for(app, client.email)  # type: ignore[attr-defined]
    return client


# -- accounts --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/threads", "/t/thr_missing", "/settings", "/t/thr_missing/delete"])
def test_pages_redirect_to_login_when_signed_out(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")


def test_signed_out_script_request_gets_401_json(client):
    token = csrf_token(client)
    response = client.post(
        "/t/thr_x/messages", data={"content": "hi", "csrf_token": token}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_register_logs_in_and_stores_only_a_password_hash(app, client):
    page = page_text(client.get("/register"))
    assert '<label for="email">Email</label>' in page and '<label for="password">Password</label>' in page
    email = register(client)
    home = client.get("/")
    assert home.status_code == 200
    assert email in page_text(home)
    with app.app_context():
        stored = db.session.execute(sa.select(User.password_hash).where(User.email == email)).scalar_one()
        db.session.remove()
    assert stored and PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


@pytest.mark.parametrize(
    "email, password, status, message",
    [
        ("not-an-email", PASSWORD, 400, "Enter a valid email address."),
        ("short@example.com", "short", 400, "at least 8 characters"),
    ],
)
def test_register_errors_keep_the_email(client, email, password, status, message):
    response = client.post(
        "/register", data={"email": email, "password": password, "csrf_token": csrf_token(client, "/register")}
    )
    assert response.status_code == status
    assert message in page_text(response)
    assert f'value="{email}"' in page_text(response)
    assert client.get("/").status_code == 302  # not logged in


def test_register_twice_is_a_conflict(client):
    email = register(client)
    other = client.application.test_client()
    response = other.post(
        "/register", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(other, "/register")}
    )
    assert response.status_code == 409
    assert "exists already" in page_text(response)


def test_wrong_password_and_unknown_email_answer_alike(app):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.1.0.1"
    email = register(app.test_client())
    wrong = login(client, email, "wrong password!")
    unknown = login(client, f"nobody{secrets.token_hex(3)}@example.com", "wrong password!")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert "The email or password is incorrect." in page_text(response)
    assert client.get("/").status_code == 302


def test_login_logout_and_safe_next(app):
    email = register(app.test_client())
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.1.0.2"
    assert 'name="next" value="/settings"' in page_text(client.get("/login?next=/settings"))
    response = login(client, email, next="/settings")
    assert response.status_code == 303 and response.location == "/settings"
    assert client.get("/settings").status_code == 200
    assert client.get("/login").location == "/"  # already signed in

    assert client.get("/logout").status_code == 405  # logout is a POST
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 303 and response.location == "/login"
    assert client.get("/").status_code == 302

    response = login(client, email, next="//evil.example/steal")
    assert response.status_code == 303 and response.location == "/"


def test_failed_logins_are_throttled_per_account(app):
    email = register(app.test_client())
    for attempt in range(3):  # LOGIN_LIMIT_PER_ACCOUNT: 3 per minute, from changing addresses
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.2.0.{attempt + 1}"
        assert login(client, email, "wrong password!").status_code == 401
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.2.0.9"
    throttled = login(client, email)  # even the right password waits
    assert throttled.status_code == 429
    assert "Too many failed log-in attempts" in page_text(throttled)
    assert client.get("/").status_code == 302
    other_email = register(app.test_client())
    assert login(client, other_email).status_code == 303  # other accounts are unaffected


def test_failed_logins_are_throttled_per_address(app):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.3.0.1"
    for attempt in range(8):  # LOGIN_LIMIT_PER_ADDRESS: 8 per minute, with changing emails
        assert login(client, f"guess{attempt}-{secrets.token_hex(3)}@example.com", "nope nope").status_code == 401
    email = register(app.test_client())
    assert login(client, email).status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.3.0.2"
    assert login(elsewhere, email).status_code == 303


def test_successful_logins_do_not_count_toward_the_limits(app):
    email = register(app.test_client())
    for _ in range(5):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "10.4.0.1"
        assert login(client, email).status_code == 303


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
    assert alice.get("/static/favicon.svg").status_code == 200


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


# -- settings: API tokens --------------------------------------------------------------------


def test_api_tokens_are_shown_once_and_can_be_revoked(app, alice):
    assert "No tokens yet." in page_text(alice.get("/settings"))
    token = csrf_token(alice, "/settings")
    created = alice.post("/settings/tokens", data={"name": "laptop", "csrf_token": token})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    plain = re.search(r'id="new-token" class="token-value" value="(chat_[^"]+)"', page_text(created)).group(1)
    with app.app_context():
        assert AccountStore(db.session).user_for_token(plain) == alice.user_id
        db.session.remove()
    listing = page_text(alice.get("/settings"))
    assert plain not in listing and "laptop" in listing  # shown once only

    # The token reaches the JSON API, which needs no CSRF token (it is exempt).
    api = app.test_client().post("/api/v1/threads", json={"title": "via API"}, headers={"Authorization": f"Bearer {plain}"})
    assert api.status_code == 201, api.get_data(as_text=True)

    token_id = re.search(r'action="/settings/tokens/(tok_[0-9a-f]+)/revoke"', listing).group(1)
    revoked = alice.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303 and revoked.location == "/settings"
    assert "Token revoked." in page_text(alice.get("/settings"))
    with app.app_context():
        assert AccountStore(db.session).user_for_token(plain) is None
        db.session.remove()
    too_long = alice.post("/settings/tokens", data={"name": "n" * 101, "csrf_token": token})
    assert too_long.status_code == 400 and "limited to 100 characters" in page_text(too_long)


# -- isolation -------------------------------------------------------------------------------


def test_another_users_chat_is_not_found_through_every_page_and_form(app, alice, bob):
    thread_id = start_chat(alice, "alice's secret")
    add_items(app, alice.user_id, thread_id, [("assistant", "reply")])
    with app.app_context():
        first_item = chat_store().list_items(alice.user_id, thread_id).data[-1].id
        _record, _plain = AccountStore(db.session).create_token(alice.user_id, "alice's")
        token_id = AccountStore(db.session).list_tokens(alice.user_id)[0].id
        db.session.remove()
    token = csrf_token(bob, "/")
    json_headers = {"Accept": "application/json"}
    attempts = [
        bob.get(f"/t/{thread_id}"),
        bob.get(f"/t/{thread_id}?before={first_item}"),
        bob.get(f"/t/{thread_id}/delete"),
        bob.post(f"/t/{thread_id}/messages", data={"content": "intrusion", "csrf_token": token}),
        bob.post(f"/t/{thread_id}/messages", data={"content": "intrusion", "csrf_token": token}, headers=json_headers),
        bob.post(f"/t/{thread_id}/rename", data={"title": "pwned", "csrf_token": token}),
        bob.post(f"/t/{thread_id}/delete", data={"csrf_token": token}),
        bob.post("/threads", data={"content": "intrusion", "thread_id": thread_id, "csrf_token": token}),
        bob.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": token}),
    ]
    assert [response.status_code for response in attempts] == [404] * len(attempts)
    assert all("alice&#39;s secret" not in page_text(r) and "alice's secret" not in page_text(r) for r in attempts)
    assert thread_id not in page_text(bob.get("/")) and thread_id not in page_text(bob.get("/threads"))
    with app.app_context():
        thread = chat_store().get_thread(alice.user_id, thread_id)
        items = chat_store().list_items(alice.user_id, thread_id).data
        tokens = AccountStore(db.session).list_tokens(alice.user_id)
        db.session.remove()
    assert thread.title == "alice's secret"
    assert [item.content for item in items][0::2] == ["alice's secret", "reply"]
    assert [item.role for item in items] == ["user", "assistant", "assistant"]
    assert tokens[0].revoked_at is None


# -- security --------------------------------------------------------------------------------


def test_csrf_missing_or_wrong_token_is_400_and_writes_nothing(app, alice):
    thread_id = start_chat(alice, "keep me")
    json_headers = {"Accept": "application/json"}
    for token in (None, "wrong-token"):
        extra = {} if token is None else {"csrf_token": token}
        attempts = [
            alice.post(f"/t/{thread_id}/messages", data={"content": "forged", **extra}),
            alice.post(f"/t/{thread_id}/messages", data={"content": "forged", **extra}, headers=json_headers),
            alice.post("/threads", data={"content": "forged", **extra}),
            alice.post(f"/t/{thread_id}/rename", data={"title": "forged", **extra}),
            alice.post(f"/t/{thread_id}/delete", data=extra),
            alice.post("/settings/tokens", data={"name": "forged", **extra}),
            alice.post("/logout", data=extra),
        ]
        assert [response.status_code for response in attempts] == [400] * len(attempts)
        assert "CSRF" in page_text(attempts[0])
    anonymous = app.test_client()
    email = f"csrf{secrets.token_hex(3)}@example.com"
    assert anonymous.post("/register", data={"email": email, "password": PASSWORD}).status_code == 400
    assert anonymous.post("/login", data={"email": alice.email, "password": PASSWORD}).status_code == 400
    assert anonymous.get("/").status_code == 302
    with app.app_context():
        threads = chat_store().list_threads(alice.user_id).data
        items = chat_store().list_items(alice.user_id, thread_id).data
        tokens = AccountStore(db.session).list_tokens(alice.user_id)
        registered = db.session.execute(sa.select(User.id).where(User.email == email)).first()
        db.session.remove()
    assert [(t.id, t.title) for t in threads] == [(thread_id, "keep me")]
    assert [item.content for item in items][0] == "keep me" and [item.role for item in items] == ["user", "assistant"]
    assert tokens == [] and registered is None
    assert alice.get("/").status_code == 200  # still signed in: the forged logout did nothing


def test_every_html_response_carries_the_security_headers(alice, client):
    thread_id = start_chat(alice, "headers")
    responses = [client.get("/login"), client.get("/register"), alice.get("/"), alice.get(f"/t/{thread_id}"),
                 alice.get("/settings"), alice.get("/t/thr_missing"), alice.get("/no/such/page")]
    signed_in_paths = {"/", f"/t/{thread_id}", "/settings"}
    for response in responses:
        assert response.mimetype == "text/html"
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        scripts = re.findall(r"<script\b[^>]*>", page_text(response))
        assert all(' src="/static/' in tag for tag in scripts)  # no inline script
        assert " style=" not in page_text(response)  # the CSP refuses inline styles too
        if response.request.path in signed_in_paths:
            assert len(scripts) >= 5
        assert " on" not in "".join(re.findall(r"<[a-z]+\b[^>]*\son\w+=", page_text(response)))
    # Every script and stylesheet a page names is a file of this site (the vendored ones too).
    files = re.findall(r'<(?:script src|link rel="(?:stylesheet|icon)" href)="(/static/[^"]+)"', page_text(alice.get(f"/t/{thread_id}")))
    assert "/static/vendor/markdown-it/markdown-it.min.js" in files and "/static/vendor/dompurify/purify.min.js" in files
    for path in files:
        static = client.get(path)
        assert static.status_code == 200, path
        assert static.mimetype in ("text/javascript", "application/javascript", "text/css", "image/svg+xml"), path
        assert static.headers["X-Content-Type-Options"] == "nosniff"
        static.close()


def _session_cookie(response) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookie_is_httponly_lax_and_secure_over_https(app):
    plain = app.test_client()
    cookie = _session_cookie(plain.get("/login"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = app.test_client()
    cookie = _session_cookie(secure.get("/login", base_url="https://localhost"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "; Secure" in cookie


def test_session_cookie_is_secure_behind_a_trusted_https_proxy(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'proxy.db'}", str(tmp_path), PROXY_FIX_X_PROTO="1")
    response = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" in _session_cookie(response)
    untrusted = make_app(f"sqlite:///{tmp_path / 'direct.db'}", str(tmp_path))
    response = untrusted.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in _session_cookie(response)


# -- errors ----------------------------------------------------------------------------------


def test_missing_thread_is_a_friendly_404(alice):
    response = alice.get("/t/thr_does_not_exist")
    assert response.status_code == 404
    page = page_text(response)
    assert "We couldn’t find that" in page and "Back to your chats" in page and "Traceback" not in page


def test_database_outage_is_a_friendly_503(tmp_path):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    app = make_app(dead, str(tmp_path), DB_CONNECT_TIMEOUT=2)
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = "usr_someone"
        session["email"] = "someone@example.com"
    response = client.get("/")
    assert response.status_code == 503
    page = page_text(response)
    assert "Temporarily unavailable" in page and "try again" in page
    assert "Traceback" not in page and "psycopg2" not in page and "OperationalError" not in page
    assert response.headers["Retry-After"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    with app.app_context():
        db.engine.dispose()


def test_a_failed_first_message_leaves_no_empty_chat(app, alice):
    """The new chat and its first message are one unit of work: a rejected message (here a
    forged item id) rolls the chat back too."""
    with app.app_context():
        before = chat_store().list_threads(alice.user_id).data
        db.session.remove()
    response = alice.post(
        "/threads",
        data={"content": "Hello", "item_id": "not a valid id!", "thread_id": "thr_unit_of_work", "csrf_token": csrf_token(alice, "/")},
    )
    assert response.status_code == 400
    assert "id must be" in page_text(response)
    with app.app_context():
        assert chat_store().list_threads(alice.user_id).data == before
        db.session.remove()
    # The same form with a good id then starts the chat under the same thread id.
    response = alice.post(
        "/threads",
        data={"content": "Hello", "item_id": "msg_ok_1", "thread_id": "thr_unit_of_work", "csrf_token": csrf_token(alice, "/")},
    )
    assert response.status_code == 303 and response.location.startswith("/t/thr_unit_of_work")

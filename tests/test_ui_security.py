"""The UI's settings, isolation and security through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import secrets

import pytest
import sqlalchemy as sa

from chatapp.extensions import db
from chatapp.models import TokenReveal, User
from chatapp.services import chat_store
from chatapp.store.accounts import AccountStore
from support.databases import free_port, make_app
from support.ui import (
    PASSWORD,
    UI_CONFIG,
    add_items,
    csrf_token,
    page_text,
    start_chat,
)

APP_CONFIG = UI_CONFIG
pytestmark = pytest.mark.usefixtures("demo_responder")


# -- settings: API tokens --------------------------------------------------------------------


def test_api_tokens_are_shown_once_and_can_be_revoked(app, alice):
    assert "No tokens yet." in page_text(alice.get("/settings"))
    token = csrf_token(alice, "/settings")
    created = alice.post("/settings/tokens", data={"name": "laptop", "csrf_token": token})
    assert created.status_code == 303 and created.location == "/settings"  # POST-redirect-GET
    shown = alice.get(created.location)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    plain = re.search(r'id="new-token" class="token-value" value="(chat_[^"]+)"', page_text(shown)).group(1)
    assert 'class="button button-quiet copy-button" data-copy-from="#new-token"' in page_text(shown)
    with app.app_context():
        assert AccountStore(db.session).user_for_token(plain) == alice.user_id
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TokenReveal)) == 0  # gone once shown
        db.session.remove()
    listing = page_text(alice.get("/settings"))  # a reload
    assert plain not in listing and "laptop" in listing  # shown once only
    assert listing.count("<td>laptop</td>") == 1  # and no second token

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
        session["sid"] = "a-session-secret"  # checked against the database: which is down
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


"""Helpers for the UI's test-client tests: forms with their CSRF token, signed-in users, chats.

CSRF protection stays on, as in production: the helpers read the token from the pages. The
fixtures `alice` and `bob` (signed-in test clients) and `demo_responder` are loaded for every test
module by tests/conftest.py; a module may define its own `alice`.
"""

from __future__ import annotations

import re
import secrets
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from chatapp.assistant.offline import OfflineAssistant
from chatapp.extensions import db
from chatapp.services import ASSISTANT_KEY, chat_store
from chatapp.store.accounts import AccountStore

# Small limits, so the tests can reach them (modules set APP_CONFIG = UI_CONFIG).
UI_CONFIG = {
    "MAX_MESSAGE_CHARS": 500,
    "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "3 per minute",
    "LOGIN_LIMIT_PER_ACCOUNT": "5 per minute",
    "LOGIN_LIMIT_PER_ADDRESS": "8 per minute",
    # Every test signs up from the test client's one address.
    "REGISTER_LIMIT_PER_ADDRESS": "1000 per minute",
}
PASSWORD = "correct horse battery"
TOKEN_PATTERN = re.compile(r'name="csrf_token" value="([^"]+)"')



def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    match = TOKEN_PATTERN.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def register(client: FlaskClient, email: str | None = None, password: str = PASSWORD) -> str:
    """Sign up, then log in (sign-up answers a new and a taken address alike, so it signs no one in)."""
    email = email or f"u{secrets.token_hex(5)}@example.com"
    response = client.post(
        "/register", data={"email": email, "password": password, "csrf_token": csrf_token(client, "/register")}
    )
    assert response.status_code == 303 and response.location == "/login", response.get_data(as_text=True)
    signed_in = login(client, email, password)
    assert signed_in.status_code == 303, signed_in.get_data(as_text=True)
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


@pytest.fixture
def demo_responder(app: Flask) -> None:
    """Plain-form sends get the whole reply (the offline demo responder here): without its pauses
    between chunks, which only make streaming visible in a browser."""
    app.extensions[ASSISTANT_KEY] = OfflineAssistant(chunk_delay=0)


def thread_items(app: Flask, user_id: str, thread_id: str):
    with app.app_context():
        items = chat_store().list_items(user_id, thread_id).data
        db.session.remove()
    return items


def signed_in(app: Flask) -> FlaskClient:
    """A test client of a newly registered user, with `.email` and `.user_id`."""
    client = app.test_client()
    client.email = register(client)  # type: ignore[attr-defined]
    client.user_id = user_id_for(app, client.email)  # type: ignore[attr-defined]
    return client


@pytest.fixture
def alice(app: Flask) -> FlaskClient:
    return signed_in(app)


@pytest.fixture
def bob(app: Flask) -> FlaskClient:
    return signed_in(app)

"""Hostile input never makes a 5xx (issue #12, item 2): NUL, lone surrogates, bytes that are not
UTF-8 and overlong values in every route's path segments and query, and in every field of every
form the pages show, on SQLite and PostgreSQL. Text no database keeps is a 400 before any view
runs, and a form comes back with the message."""

from __future__ import annotations

import logging
import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import quote, unquote_to_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient

from chatapp.assistant.offline import OfflineAssistant
from chatapp.services import ASSISTANT_KEY
from support.ui import csrf_token, register, start_chat, user_id_for

APP_CONFIG = {
    "REGISTER_LIMIT_PER_ADDRESS": "1000 per minute",
    "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "1000 per minute",
    "LOGIN_LIMIT_PER_ADDRESS": "1000 per minute",
    "LOGIN_LIMIT_PER_ACCOUNT": "1000 per minute",
}
# Percent-encoded, as a client sends them: each is refused (400) wherever it appears.
UNSTORABLE = {
    "nul": "a%00b",
    "lone surrogate": "a%ED%A0%80b",  # U+D800 as (invalid) UTF-8
    "invalid utf-8": "a%FF%FEb",
    "overlong sequence": "a%C0%AFb",  # '/' encoded in two bytes
}
OVERLONG = "x" * 100_000  # not refused as such: each field has its own limit, none is a 5xx


class Forms(HTMLParser):
    """The POST forms of a page: (action, [field names])."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self.forms.append((unescape(attrs["action"]), []))
        elif tag in ("input", "textarea", "select") and self.forms and attrs.get("name"):
            self.forms[-1][1].append(attrs["name"])


def page_forms(client: FlaskClient, path: str) -> list[tuple[str, list[str]]]:
    parser = Forms()
    parser.feed(client.get(path).get_data(as_text=True))
    return parser.forms


@pytest.fixture(autouse=True)
def prompt_demo_responder(app: Flask) -> None:
    app.extensions[ASSISTANT_KEY] = OfflineAssistant(chunk_delay=0)


@pytest.fixture
def alice(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.email = register(client)  # type: ignore[attr-defined]
    client.user_id = user_id_for(app, client.email)  # type: ignore[attr-defined]
    client.thread_id = start_chat(client)  # type: ignore[attr-defined]
    return client


@pytest.fixture
def log_problems(caplog):
    """What must never be logged while hostile input arrives: errors and tracebacks."""
    caplog.set_level(logging.INFO)

    def problems() -> list[str]:
        return [
            f"{record.levelname} {record.name}: {record.getMessage()}"
            for record in caplog.records
            if record.levelno >= logging.ERROR or record.exc_info or "Traceback" in record.getMessage()
        ]

    return problems


def encoded_form(fields: dict[str, str]) -> bytes:
    """An urlencoded body whose values are already percent-encoded (raw bytes stay raw)."""
    return "&".join(f"{quote(name)}={value}" for name, value in fields.items()).encode()


def test_every_form_field_refuses_unstorable_text_and_survives_overlong_values(app, alice, log_problems):
    pages = ["/", f"/t/{alice.thread_id}", "/settings", f"/t/{alice.thread_id}/delete", "/threads"]
    forms = {action: fields for path in pages for action, fields in page_forms(alice, path)}
    anonymous = app.test_client()
    forms.update({action: fields for path in ("/login", "/register") for action, fields in page_forms(anonymous, path)})
    assert {"/login", "/register", "/threads", "/settings/tokens", "/settings/password", "/logout"} <= set(forms)
    checked = 0
    ending = ("/logout", "/settings/logout-everywhere", f"/t/{alice.thread_id}/delete")  # they end what the others need
    for action, fields in sorted(forms.items(), key=lambda form: form[0] in ending):
        for field in fields:
            if field == "csrf_token":
                continue
            for kind, value in UNSTORABLE.items():
                client = anonymous if action in ("/login", "/register") else alice
                values = {name: "valid-value" for name in fields}
                values.update(csrf_token=csrf_token(client, "/login" if client is anonymous else "/settings"), **{field: value})
                response = client.post(action, data=encoded_form(values), content_type="application/x-www-form-urlencoded")
                assert response.status_code == 400, (action, field, kind, response.status_code)
                assert "cannot be stored" in response.get_data(as_text=True), (action, field, kind)
                checked += 1
            if action in ending:
                continue
            values = {name: "valid-value" for name in fields}
            values.update(csrf_token=csrf_token(alice, "/settings"), **{field: OVERLONG})
            response = alice.post(action, data=values)
            assert response.status_code < 500, (action, field, "overlong", response.status_code)
    assert checked >= 60
    assert log_problems() == []


def test_every_route_refuses_unstorable_path_segments_and_query_values(app, alice, log_problems):
    path_values = {"thread_id": alice.thread_id, "token_id": "tok_x", "filename": "app.css", "item_id": "msg_x"}
    rules = [rule for rule in app.url_map.iter_rules() if not rule.rule.startswith("/api/")]
    assert len(rules) >= 15
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for kind, value in UNSTORABLE.items():
                for argument in rule.arguments or {None}:
                    raw = {name: path_values.get(name, "x") for name in rule.arguments}
                    if argument is not None:
                        raw[argument] = value
                    path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m, raw=raw: raw[m.group(1)], rule.rule)
                    # As a server passes the path (its bytes as latin-1): the test client would decode it leniently.
                    raw_path = unquote_to_bytes(path).decode("latin-1")
                    with alice.open(path, method=method, environ_overrides={"PATH_INFO": raw_path}) as response:
                        assert response.status_code == 400 or argument is None, (rule.rule, method, kind, response.status_code)
                query_path = f"{rule.rule.split('<')[0]}?next={value}&after={value}&before={value}"
                with alice.open(query_path, method=method) as query:
                    assert query.status_code in (400, 404, 405), (rule.rule, method, kind, query.status_code)
            long = alice.open(f"{rule.rule.split('<')[0]}?next={OVERLONG[:4000]}&after={OVERLONG[:4000]}", method=method)
            assert long.status_code < 500, (rule.rule, method, "overlong query", long.status_code)
    assert log_problems() == []


def test_the_log_in_and_sign_up_forms_come_back_with_the_message(app, log_problems):
    client = app.test_client()
    login = client.post(
        "/login",
        data=encoded_form({"email": "x%00@example.com", "password": "whatever", "csrf_token": csrf_token(client)}),
        content_type="application/x-www-form-urlencoded",
    )
    page = login.get_data(as_text=True)
    assert login.status_code == 400
    assert "<h1>Log in</h1>" in page and 'name="password"' in page and "The field “email” contains a NUL character" in page
    assert 'value="x@example.com"' in page  # kept, without what was refused
    sign_up = client.post(
        "/register",
        data=encoded_form({"email": "new@example.com", "password": "long enough %ED%A0%80", "csrf_token": csrf_token(client, "/register")}),
        content_type="application/x-www-form-urlencoded",
    )
    page = sign_up.get_data(as_text=True)
    assert sign_up.status_code == 400 and "<h1>Create an account</h1>" in page and "The field “password” contains" in page
    assert log_problems() == []


def test_the_composer_keeps_the_draft_and_its_script_gets_json(app, alice, log_problems):
    thread = f"/t/{alice.thread_id}/messages"
    body = encoded_form({"content": "hello%00world", "csrf_token": csrf_token(alice, "/")})
    page = alice.post(thread, data=body, content_type="application/x-www-form-urlencoded")
    assert page.status_code == 400 and ">helloworld</textarea>" in page.get_data(as_text=True)
    boundary = "hostile"
    multipart = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf_token(alice, '/')}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\n"
    ).encode() + b"caf\xe9 latin-1" + f"\r\n--{boundary}--\r\n".encode()
    script = alice.post(
        thread, data=multipart, content_type=f"multipart/form-data; boundary={boundary}", headers={"Accept": "application/json"}
    )
    assert script.status_code == 400
    assert script.get_json()["error"]["details"]["field"] == "content"
    assert log_problems() == []


def test_the_api_refuses_unstorable_text_in_its_urls_too(app, alice, log_problems):
    from support.api_client import make_token

    headers = {"Authorization": f"Bearer {make_token(app, alice.user_id)}"}
    for value in UNSTORABLE.values():
        for path in (f"/api/v1/threads/{value}", f"/api/v1/threads?after={value}", f"/api/v1/threads/{alice.thread_id}/items?after={value}"):
            raw_path = unquote_to_bytes(path.split("?")[0]).decode("latin-1")
            response = alice.get(path, headers=headers, environ_overrides={"PATH_INFO": raw_path})
            assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_request", path
    lone = alice.post("/api/v1/threads", data=b'{"title": "a\\ud800b"}', headers={**headers, "Content-Type": "application/json"})
    assert lone.status_code == 400
    assert log_problems() == []

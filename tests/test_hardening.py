"""Smaller hardening (issue #12, item 9): /readyz tells anonymous callers only ok / not ready,
chat pages are no-store, HSTS on https, and a chunked body over MAX_CONTENT_LENGTH is 413 under
real gunicorn, to the API and to a UI form, on SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import logging
import re
import urllib.request

import pytest
import sqlalchemy as sa

from chatapp.extensions import db
from chatapp.models import Thread, ThreadItem
from support.api_client import make_token
from support.databases import create_pg_database, drop_pg_database, free_port, make_app, make_user
from support.servers import gunicorn_server, migrate
from support.ui import register, start_chat

APP_CONFIG = {"REGISTER_LIMIT_PER_ADDRESS": "1000 per minute"}
BODY_LIMIT = 100_000


def test_readyz_tells_anonymous_callers_only_ok_or_not_ready(tmp_path, caplog):
    port = free_port()
    app = make_app(f"postgresql://postgres@127.0.0.1:{port}/nowhere", str(tmp_path), DB_CONNECT_TIMEOUT=2)
    caplog.set_level(logging.WARNING, logger="chatapp")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.headers["Retry-After"]
    body = response.get_json()
    assert body == {"status": "not ready", "error": {"code": "database_unavailable", "message": "not ready"}}
    text = response.get_data(as_text=True)
    assert str(port) not in text and "127.0.0.1" not in text and "connection" not in text.lower()
    assert any(str(port) in record.getMessage() for record in caplog.records)  # the reason is logged
    with app.app_context():
        db.engine.dispose()


def test_readyz_when_ready_is_ok_and_nothing_more(client):
    assert client.get("/readyz").get_json() == {"status": "ok"}


def test_chat_pages_are_no_store(app):
    browser = app.test_client()
    register(browser)
    thread_id = start_chat(browser)
    for path in ("/", "/threads", f"/t/{thread_id}", f"/t/{thread_id}/delete", f"/t/{thread_id}/items", "/settings"):
        response = browser.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", path
    assert app.test_client().get("/login").headers["Cache-Control"] == "no-store"  # forms with a CSRF token
    with browser.get("/static/app.css") as static:
        assert "no-store" not in static.headers.get("Cache-Control", "")


def test_hsts_on_https_requests_only(app, tmp_path):
    client = app.test_client()
    assert client.get("/login", base_url="https://localhost").headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login").headers
    proxied = make_app(f"sqlite:///{tmp_path / 'proxied.db'}", str(tmp_path), PROXY_FIX_X_PROTO="1", HSTS_SECONDS="600")
    forwarded = proxied.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert forwarded.headers["Strict-Transport-Security"] == "max-age=600"  # behind a trusted https proxy
    direct = make_app(f"sqlite:///{tmp_path / 'direct.db'}", str(tmp_path))
    assert "Strict-Transport-Security" not in direct.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"}).headers
    off = make_app(f"sqlite:///{tmp_path / 'off.db'}", str(tmp_path), HSTS_SECONDS="0")
    assert "Strict-Transport-Security" not in off.test_client().get("/login", base_url="https://localhost").headers


# -- chunked bodies under gunicorn ------------------------------------------------------------


def chunked_post(base: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", path)
    for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
        connection.putheader(name, value)
    connection.endheaders()
    try:
        for start in range(0, len(body), 16384):
            part = body[start : start + 16384]
            connection.send(b"%x\r\n%s\r\n" % (len(part), part))
        connection.send(b"0\r\n\r\n")
    except OSError:  # the server may answer 413 and close before the whole body is sent
        pass
    response = connection.getresponse()
    status, answer = response.status, response.read()
    connection.close()
    return status, answer


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_oversized_chunked_body_is_413_to_the_api_and_to_a_form(backend, tmp_path):
    url = f"sqlite:///{tmp_path / 'chunked.db'}" if backend == "sqlite" else create_pg_database()
    try:
        migrate(url, str(tmp_path))
        app = make_app(url, str(tmp_path))
        user_id = make_user(app)
        token = make_token(app, user_id)
        env = {"MAX_CONTENT_LENGTH": str(BODY_LIMIT), "WEB_CONCURRENCY": "1", "REGISTER_LIMIT_PER_ADDRESS": "1000 per minute"}
        with gunicorn_server(url, str(tmp_path), env=env) as base:
            api = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            small = chunked_post(base, "/api/v1/threads", b'{"title": "chunked"}', api)
            big = chunked_post(base, "/api/v1/threads", b'{"title": "' + b"x" * (2 * BODY_LIMIT) + b'"}', api)
            assert small[0] == 201
            assert big[0] == 413, big
            assert b'"payload_too_large"' in big[1]

            with urllib.request.urlopen(base + "/login", timeout=10) as page:
                cookie = page.headers["Set-Cookie"].split(";")[0]
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.read().decode()).group(1)
            form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
            status, answer = chunked_post(base, "/login", f"csrf_token={csrf}&password=x&email=".encode() + b"x" * (2 * BODY_LIMIT), form)
            assert status == 413, answer[:300]
            assert b"Traceback" not in answer
        with app.app_context():
            titles = db.session.scalars(sa.select(Thread.title).where(Thread.user_id == user_id)).all()
            assert titles == ["chunked"]  # nothing cut short was stored
            assert db.session.scalar(sa.select(sa.func.count()).select_from(ThreadItem)) == 0
            db.session.remove()
            db.engine.dispose()
    finally:
        if backend == "postgresql":
            drop_pg_database(url)

"""Sign-up tells a stranger nothing about existing accounts, and is throttled per client address
(issue #12, item 3), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import secrets
import statistics
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

import chatapp.store.accounts as accounts_module
from support.ui import PASSWORD, csrf_token, login, page_text

APP_CONFIG = {"REGISTER_LIMIT_PER_ADDRESS": "3 per minute"}
NOTICE = "If this email address was new, your account is ready"


def client_at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sign_up(client: FlaskClient, email: str, password: str = PASSWORD):
    return client.post("/register", data={"email": email, "password": password, "csrf_token": csrf_token(client, "/register")})


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', html)


def test_a_new_and_a_taken_address_get_the_same_answer(app):
    taken = f"owner-{secrets.token_hex(4)}@example.com"
    assert sign_up(client_at(app, "10.20.0.1"), taken, "the owner's own passphrase").status_code == 303
    new = f"new-{secrets.token_hex(4)}@example.com"

    answers = {}
    for email, address in ((new, "10.20.0.2"), (taken, "10.20.0.3")):
        client = client_at(app, address)
        response = sign_up(client, email, "a stranger's passphrase")
        follow = client.get(response.location)
        answers[email] = (response.status_code, response.location, sorted(response.headers.keys()), follow.status_code, without_csrf(page_text(follow)))
        assert client.get("/").status_code == 302  # a sign-up signs no one in

    assert answers[new] == answers[taken]
    status, location, _, _, page = answers[new]
    assert (status, location) == (303, "/login") and NOTICE in page
    assert "exists" not in page and "already registered" not in page
    # The new account works with the password chosen; the taken one keeps its owner's.
    assert login(client_at(app, "10.20.0.4"), new, "a stranger's passphrase").status_code == 303
    assert login(client_at(app, "10.20.0.5"), taken, "the owner's own passphrase").status_code == 303
    assert login(client_at(app, "10.20.0.6"), taken, "a stranger's passphrase").status_code == 401


def test_both_paths_hash_the_password_and_take_similar_time(app, monkeypatch):
    hashed: list[str] = []
    real = accounts_module.generate_password_hash

    def counting(password: str, *args, **kwargs) -> str:
        hashed.append(password)
        return real(password, *args, **kwargs)

    monkeypatch.setattr(accounts_module, "generate_password_hash", counting)
    taken = f"timed-{secrets.token_hex(4)}@example.com"
    assert sign_up(client_at(app, "10.21.0.1"), taken).status_code == 303
    hashed.clear()
    timings: dict[str, list[float]] = {"new": [], "taken": []}
    for attempt in range(3):
        for kind in ("new", "taken"):
            client = client_at(app, f"10.21.{attempt + 1}.{len(kind)}")
            email = taken if kind == "taken" else f"fresh-{secrets.token_hex(4)}@example.com"
            csrf = csrf_token(client, "/register")
            started = time.perf_counter()
            response = client.post("/register", data={"email": email, "password": PASSWORD, "csrf_token": csrf})
            timings[kind].append(time.perf_counter() - started)
            assert response.status_code == 303
    assert len(hashed) == 6  # once per sign-up, new or taken
    new, taken_time = statistics.median(timings["new"]), statistics.median(timings["taken"])
    # The password hash (scrypt, ~100 ms) dominates both; the INSERT adds little.
    assert 0.5 < taken_time / new < 2, timings


def test_sign_ups_are_throttled_per_client_address(app):
    client = client_at(app, "10.22.0.1")
    for _ in range(3):  # REGISTER_LIMIT_PER_ADDRESS: 3 per minute
        assert sign_up(client, f"many-{secrets.token_hex(4)}@example.com").status_code == 303
    throttled = sign_up(client, f"many-{secrets.token_hex(4)}@example.com")
    assert throttled.status_code == 429 and "Too many sign-ups" in page_text(throttled)
    assert sign_up(client_at(app, "10.22.0.2"), f"other-{secrets.token_hex(4)}@example.com").status_code == 303


@pytest.mark.parametrize("email", ["not-an-email", "x" * 400 + "@example.com"])
def test_invalid_sign_ups_still_say_why(app, email):
    response = sign_up(client_at(app, f"10.23.0.{len(email) % 250}"), email)
    assert response.status_code == 400 and "Enter a valid email address." in page_text(response)

"""The UI's accounts through Flask's test client, on SQLite and PostgreSQL: register, log in, throttling."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa

from chatapp.extensions import db
from chatapp.models import User
from support.ui import (
    PASSWORD,
    UI_CONFIG,
    csrf_token,
    login,
    page_text,
    register,
)

APP_CONFIG = UI_CONFIG
pytestmark = pytest.mark.usefixtures("demo_responder")


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


def test_register_and_log_in_stores_only_a_password_hash(app, client):
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


def test_register_twice_answers_like_a_new_address(client):
    email = register(client)
    other = client.application.test_client()
    response = other.post(
        "/register", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(other, "/register")}
    )
    assert response.status_code == 303 and response.location == "/login"  # tests/test_registration.py compares both
    assert "exists already" not in page_text(other.get("/login"))


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


def test_failed_logins_are_throttled_per_account_and_address(app):
    email = register(app.test_client())
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "10.2.0.1"
    for _ in range(3):  # LOGIN_LIMIT_PER_ACCOUNT_ADDRESS: 3 per minute
        assert login(attacker, email, "wrong password!").status_code == 401
    throttled = login(attacker, email)  # even the right password waits, from that address
    assert throttled.status_code == 429
    assert "Too many failed log-in attempts" in page_text(throttled)
    assert attacker.get("/").status_code == 302
    other_email = register(app.test_client())
    assert login(attacker, other_email).status_code == 303  # other accounts are unaffected
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "10.2.0.9"
    assert login(owner, email).status_code == 303  # and the owner, elsewhere, is not locked out


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



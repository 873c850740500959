"""Sessions that really end (issue #12, item 1): log out, password change and "log out everywhere"
end them on the server, for every copy of the cookie; API tokens stay unless asked. On SQLite and
PostgreSQL, through the test client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from chatapp.extensions import db
from chatapp.models import ApiToken, TokenReveal, UserSession, utcnow
from support.ui import PASSWORD, csrf_token, login, page_text, register, start_chat

APP_CONFIG = {"REGISTER_LIMIT_PER_ADDRESS": "1000 per minute"}
NEW_PASSWORD = "a brand new passphrase"


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding the same session cookie (a stolen or copied one)."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def signed_in_twice(app: Flask) -> tuple[FlaskClient, FlaskClient, str]:
    """Two browsers signed in to one account, each with its own session."""
    first = app.test_client()
    email = register(first)
    second = app.test_client()
    assert login(second, email).status_code == 303
    return first, second, email


def api_status(app: Flask, token: str) -> int:
    return app.test_client().get("/api/v1/threads", headers={"Authorization": f"Bearer {token}"}).status_code


def create_token(client: FlaskClient) -> str:
    created = client.post("/settings/tokens", data={"name": "script", "csrf_token": csrf_token(client, "/settings")})
    assert created.status_code == 303
    response = client.get(created.location)
    return re.search(r'id="new-token" class="token-value" value="([^"]+)"', page_text(response)).group(1)


def sessions_of(app: Flask, email: str) -> int:
    with app.app_context():
        from chatapp.models import User

        count = db.session.scalar(
            sa.select(sa.func.count()).select_from(UserSession).join(User, User.id == UserSession.user_id).where(User.email == email)
        )
        db.session.remove()
    return count


def test_logging_out_ends_the_session_for_every_copy_of_the_cookie(app):
    browser = app.test_client()
    email = register(browser)
    stolen = copy_of(app, browser)
    assert stolen.get("/settings").status_code == 200  # the copy works while the session lives
    token_form = csrf_token(stolen, "/settings")

    logout = browser.post("/logout", data={"csrf_token": csrf_token(browser, "/")})

    assert logout.status_code == 303
    assert sessions_of(app, email) == 0
    again = stolen.get("/settings")
    assert again.status_code == 302 and again.location.startswith("/login")
    minted = stolen.post("/settings/tokens", data={"name": "stolen", "csrf_token": token_form})
    assert minted.status_code in (302, 400)  # signed out (its CSRF token went with the session)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(ApiToken.name == "stolen")) == 0
        db.session.remove()


def test_a_cookie_without_a_server_side_session_is_signed_out(app, user_id):
    forged = app.test_client()
    with forged.session_transaction() as session:
        session["user_id"] = user_id  # a cookie signed with the right key, as before this change
        session["email"] = "someone@example.com"
    assert forged.get("/").status_code == 302
    with forged.session_transaction() as session:
        session.update({"user_id": user_id, "sid": "made-up-secret"})
    assert forged.get("/").status_code == 302


def test_changing_the_password_ends_other_sessions_keeps_this_one_and_the_tokens(app):
    here, elsewhere, email = signed_in_twice(app)
    token = create_token(here)
    form = csrf_token(here, "/settings")

    wrong = here.post("/settings/password", data={"current_password": "not my password", "new_password": NEW_PASSWORD, "csrf_token": form})
    weak = here.post("/settings/password", data={"current_password": PASSWORD, "new_password": "password", "csrf_token": form})
    changed = here.post("/settings/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "csrf_token": form})

    assert wrong.status_code == 400 and "The current password is incorrect." in page_text(wrong)
    assert weak.status_code == 400 and "too common" in page_text(weak)
    assert changed.status_code == 303 and changed.location == "/settings"
    settings = here.get("/settings")
    assert settings.status_code == 200 and "Password changed" in page_text(settings)  # this browser goes on
    assert elsewhere.get("/settings").status_code == 302  # the other one is logged out
    assert sessions_of(app, email) == 1
    assert api_status(app, token) == 200  # tokens stay unless asked
    assert login(app.test_client(), email, PASSWORD).status_code == 401
    assert login(app.test_client(), email, NEW_PASSWORD).status_code == 303


def test_changing_the_password_can_revoke_the_tokens_too(app):
    here, _, _ = signed_in_twice(app)
    token = create_token(here)
    assert api_status(app, token) == 200  # cached by this process now
    response = here.post(
        "/settings/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "revoke_tokens": "yes", "csrf_token": csrf_token(here, "/settings")},
    )
    assert response.status_code == 303
    assert api_status(app, token) == 401  # at once on this process, cache or not


def test_log_out_everywhere_ends_every_session_and_keeps_tokens_unless_asked(app):
    here, elsewhere, email = signed_in_twice(app)
    token = create_token(here)
    page = page_text(here.get("/settings"))
    assert "Log out everywhere" in page and "Also revoke my API tokens" in page

    response = here.post("/settings/logout-everywhere", data={"csrf_token": csrf_token(here, "/settings")})

    assert response.status_code == 303 and response.location == "/login"
    assert "logged out everywhere" in page_text(here.get("/login"))
    assert here.get("/settings").status_code == 302 and elsewhere.get("/settings").status_code == 302
    assert sessions_of(app, email) == 0
    assert api_status(app, token) == 200

    again = app.test_client()
    assert login(again, email).status_code == 303
    again.post("/settings/logout-everywhere", data={"revoke_tokens": "yes", "csrf_token": csrf_token(again, "/settings")})
    assert api_status(app, token) == 401


@pytest.fixture
def statements(app):
    """Counts the statements the app sends while the block runs."""
    counted: list[str] = []

    def count(conn, cursor, statement, *args):  # noqa: ANN001 - SQLAlchemy's event signature
        counted.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    yield counted
    sa.event.remove(engine, "before_cursor_execute", count)


def test_a_page_costs_one_more_statement_only_when_the_session_is_not_cached(app, statements):
    browser = app.test_client()
    register(browser)
    thread_id = start_chat(browser)
    browser.get(f"/t/{thread_id}")  # the session is checked and cached by this process now
    statements.clear()
    assert browser.get(f"/t/{thread_id}").status_code == 200
    cached = len(statements)
    app.extensions["chatapp.session_cache"].ttl_seconds = 0  # as with SESSION_CACHE_SECONDS=0
    app.extensions["chatapp.session_cache"]._entries.clear()
    try:
        statements.clear()
        assert browser.get(f"/t/{thread_id}").status_code == 200
        checked = len(statements)
    finally:
        app.extensions["chatapp.session_cache"].ttl_seconds = 2
    # The thread, its items, the sidebar; plus the session lookup when it is not cached.
    assert (cached, checked) == (3, 4), statements


# -- a new token is shown once, on the page the form redirects to (issue #13, item 8) -------------


def reveals(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(TokenReveal))
        db.session.remove()
    return count


def test_a_new_token_is_shown_to_its_own_session_once_and_a_reload_makes_no_second(app, statements):
    here, elsewhere, _ = signed_in_twice(app)
    form = csrf_token(here, "/settings")
    created = here.post("/settings/tokens", data={"name": "reloaded", "csrf_token": form})
    assert created.status_code == 303 and created.location == "/settings"
    assert reveals(app) == 1
    assert "new-token" not in page_text(elsewhere.get("/settings"))  # another session of the user: not there
    shown = page_text(here.get("/settings"))
    assert 'id="new-token"' in shown and "it will not be shown again" in shown
    assert reveals(app) == 0
    for _ in range(2):  # reloads and the back button: the plain page, one token
        statements.clear()
        again = page_text(here.get("/settings"))
        assert 'id="new-token"' not in again and again.count("<td>reloaded</td>") == 1
        assert not [s for s in statements if "token_reveals" in s]  # nothing waits: not even looked for
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(ApiToken.name == "reloaded")) == 1
        db.session.remove()


def test_a_token_not_yet_shown_goes_with_its_session_or_its_age(app):
    browser = app.test_client()
    register(browser)
    browser.post("/settings/tokens", data={"name": "first", "csrf_token": csrf_token(browser, "/settings")})
    browser.post("/settings/tokens", data={"name": "second", "csrf_token": csrf_token(browser, "/settings")})
    assert reveals(app) == 1  # one per session: the newer one
    with app.app_context():  # ten minutes and more later
        db.session.execute(sa.update(TokenReveal).values(created_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()
        db.session.remove()
    assert 'id="new-token"' not in page_text(browser.get("/settings"))
    assert reveals(app) == 0

    browser.post("/settings/tokens", data={"name": "third", "csrf_token": csrf_token(browser, "/settings")})
    assert reveals(app) == 1
    browser.post("/logout", data={"csrf_token": csrf_token(browser, "/")})
    assert reveals(app) == 0  # ending the session drops it

"""API tokens record when they were last used (issue #12, item 8): at most once a minute per
token, inside the lookup a token-cache miss makes anyway, so Settings shows it while the steady
API read stays one round trip. On SQLite and PostgreSQL, and counted on the wire."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from chatapp.extensions import db
from chatapp.models import ApiToken
from chatapp.store.accounts import hash_token
from support.api_client import ApiClient
from support.databases import make_app
from support.ui import csrf_token, page_text, register

APP_CONFIG = {"REGISTER_LIMIT_PER_ADDRESS": "1000 per minute", "API_TOKEN_CACHE_SECONDS": "0"}


def last_used(app, plain: str):
    with app.app_context():
        value = db.session.scalar(sa.select(ApiToken.last_used_at).where(ApiToken.token_hash == hash_token(plain)))
        db.session.remove()
    return value


def set_last_used(app, plain: str, value) -> None:
    with app.app_context():
        db.session.execute(sa.update(ApiToken).where(ApiToken.token_hash == hash_token(plain)).values(last_used_at=value))
        db.session.commit()
        db.session.remove()


def test_settings_shows_when_a_token_was_last_used(app):
    browser = app.test_client()
    register(browser)
    created = browser.post(
        "/settings/tokens", data={"name": "laptop", "csrf_token": csrf_token(browser, "/settings")}, follow_redirects=True
    )
    plain = re.search(r'id="new-token" class="token-value" value="([^"]+)"', page_text(created)).group(1)
    row = re.compile(r"<td>laptop</td>\s*<td>.*?</td>\s*<td>(.*?)</td>", re.S)  # the "Last used" column
    assert row.search(page_text(browser.get("/settings"))).group(1) == "never"

    assert app.test_client().get("/api/v1/threads", headers={"Authorization": f"Bearer {plain}"}).status_code == 200

    shown = row.search(page_text(browser.get("/settings"))).group(1)
    assert "just now" in shown and "<time datetime=" in shown


def test_a_use_is_recorded_at_most_once_a_minute(app, user_id):
    alice = ApiClient(app, user_id)  # the cache is off here: every request looks the token up
    assert alice.get("/threads").status_code == 200
    first = last_used(app, alice.token)
    assert first is not None
    assert alice.get("/threads").status_code == 200
    assert last_used(app, alice.token) == first  # within the minute: not written again
    set_last_used(app, alice.token, first - timedelta(minutes=2))
    assert alice.get("/threads").status_code == 200
    assert last_used(app, alice.token) > first - timedelta(minutes=1)  # stale: recorded anew


# -- on the wire (PostgreSQL) ----------------------------------------------------------------



@pytest.fixture(scope="module")
def proxied_app(pg_proxy, tmp_path_factory):
    application = make_app(pg_proxy.database_url, str(tmp_path_factory.mktemp("last-used")), DB_PING_IDLE_SECONDS="30")
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_recording_costs_no_round_trip_of_its_own(pg_proxy, proxied_app):
    alice = ApiClient(proxied_app)
    thread_id = alice.new_thread()["id"]
    alice.new_item(thread_id, "hello")  # a page with items: an empty one would look the thread up too
    proxied_app.extensions["chatapp.api_token_cache"]._entries.clear()  # the next request misses

    pg_proxy.reset()
    assert alice.get(f"/threads/{thread_id}/items").status_code == 200
    assert pg_proxy.round_trips == 2, [s[:60] for s in pg_proxy.statements]  # the lookup (which records the use) + the read
    assert last_used(proxied_app, alice.token) is not None

    for _ in range(10):  # the steady state: the cache answers, one round trip per read
        pg_proxy.reset()
        assert alice.get(f"/threads/{thread_id}/items").status_code == 200
        assert pg_proxy.round_trips == 1, pg_proxy.statements

"""Round trips of the branch routes on PostgreSQL, counted on the wire (tests/pgproxy.py): a page of
a thread's branch, in either order, is one statement, as a page of its items is, and an append
that names its parent is still one call."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from chatapp.extensions import db
from support.api_client import ApiClient
from support.databases import create_pg_database, drop_pg_database, make_app
from support.pgproxy import PgProxy

REQUESTS = 10


@pytest.fixture(scope="module")
def proxy():
    url = make_url(create_pg_database())
    with PgProxy(url.host, url.port or 5432) as running:
        running.database_url = url.set(port=running.port).render_as_string(hide_password=False)
        yield running
    drop_pg_database(url.render_as_string(hide_password=False))


@pytest.fixture(scope="module")
def alice(proxy, tmp_path_factory):
    app = make_app(proxy.database_url, str(tmp_path_factory.mktemp("branch-round-trips")))
    with app.app_context():
        upgrade()
    yield ApiClient(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def round_trips(proxy: PgProxy, request) -> float:
    request()  # warm-up: connection, token cache
    proxy.reset()
    for _ in range(REQUESTS):
        request()
    return proxy.round_trips / REQUESTS


def test_branch_pages_and_appends_with_a_parent_cost_one_round_trip_each(proxy, alice):
    thread_id = alice.new_thread()["id"]
    ids = [alice.new_item(thread_id, f"m{n}")["id"] for n in range(80)]
    alice.new_item(thread_id, "another version of m40", parent_id=ids[39])  # the branch now ends there

    def page(**query):
        def read():
            response = alice.get(f"/threads/{thread_id}/branch", query_string={"limit": 20, **query})
            assert response.status_code == 200 and response.get_json()["data"], response.get_data(as_text=True)
        return read

    assert round_trips(proxy, page(order="desc")) == 1, proxy.statements[:4]
    assert round_trips(proxy, page(order="desc", after=ids[30])) == 1
    assert round_trips(proxy, page(order="asc")) == 1
    assert round_trips(proxy, page(order="asc", after=ids[10])) == 1
    assert round_trips(proxy, lambda: alice.get(f"/threads/{thread_id}/items/{ids[40]}/versions")) == 1
    assert round_trips(proxy, lambda: alice.new_item(thread_id, "reply", role="assistant", parent_id=ids[5])) == 1

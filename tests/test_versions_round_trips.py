"""Round trips of the branch routes on PostgreSQL, counted on the wire (tests/pgproxy.py): a page of
a thread's branch, in either order, is one statement, as a page of its items is, and an append
that names its parent is still one call."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade

from chatapp.extensions import db
from support.api_client import ApiClient
from support.databases import make_app


@pytest.fixture(scope="module")
def alice(pg_proxy, tmp_path_factory):
    app = make_app(pg_proxy.database_url, str(tmp_path_factory.mktemp("branch-round-trips")))
    with app.app_context():
        upgrade()
    yield ApiClient(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()



def test_branch_pages_and_appends_with_a_parent_cost_one_round_trip_each(pg_proxy, alice):
    thread_id = alice.new_thread()["id"]
    ids = [alice.new_item(thread_id, f"m{n}")["id"] for n in range(80)]
    alice.new_item(thread_id, "another version of m40", parent_id=ids[39])  # the branch now ends there

    def page(**query):
        def read():
            response = alice.get(f"/threads/{thread_id}/branch", query_string={"limit": 20, **query})
            assert response.status_code == 200 and response.get_json()["data"], response.get_data(as_text=True)
        return read

    assert pg_proxy.round_trips_per_call(page(order="desc")) == 1, pg_proxy.statements[:4]
    assert pg_proxy.round_trips_per_call(page(order="desc", after=ids[30])) == 1
    assert pg_proxy.round_trips_per_call(page(order="asc")) == 1
    assert pg_proxy.round_trips_per_call(page(order="asc", after=ids[10])) == 1
    assert pg_proxy.round_trips_per_call(lambda: alice.get(f"/threads/{thread_id}/items/{ids[40]}/versions")) == 1
    assert pg_proxy.round_trips_per_call(lambda: alice.new_item(thread_id, "reply", role="assistant", parent_id=ids[5])) == 1

"""Migrations: `flask db upgrade` builds the schema from nothing, and the models agree with it."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from chatapp.extensions import db
from chatapp.models import include_in_autogenerate


def test_models_and_migrations_agree(app):
    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_in_autogenerate}
            )
            assert compare_metadata(context, db.metadata) == []


def test_only_the_search_objects_are_left_out_of_the_comparison(app, backend):
    """The filter hides the search column / FTS tables, and nothing the models do describe."""
    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            unfiltered = compare_metadata(context, db.metadata)
    hidden = {(diff[0], _name(diff)) for diff in unfiltered}
    if backend == "postgresql":
        assert hidden == {("remove_index", "ix_thread_items_search_vector"), ("remove_column", "search_vector")}
    else:
        assert {kind for kind, _ in hidden} == {"remove_table"}
        assert {name for _, name in hidden} >= {"thread_items_fts", "thread_items_fts_data", "thread_items_fts_idx"}
        assert all(name.startswith("thread_items_fts") for _, name in hidden)


def _name(diff) -> str:
    if diff[0] == "remove_column":
        return diff[3].name
    return diff[1].name


def test_upgrade_reaches_head_and_readyz_agrees(app, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}  # the reason for "not ready" goes to the log only


def test_sqlite_pragmas(app, backend):
    if backend != "sqlite":
        return
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000

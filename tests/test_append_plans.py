"""chatapp_append_item() keeps its plans right as tables grow (PostgreSQL).

PL/pgSQL caches a generic plan per statement after five calls. Before migration 0007 the
function planned every call afresh because a generic plan cached while the tables were empty
once looked an id up on the (thread_id, seq) index and scanned whole threads. 0007 leaves its
cached statements no index to choose, and runs the two (thread_id, id) lookups as dynamic SQL.
Here the plans are read with auto_explain, on one connection: cached while the tables are empty,
then made again (after ANALYZE) and used on a thread of 20,000 items. A threads table of one row is
read by a sequential scan, which is right while it is that small.
"""

from __future__ import annotations

import json
import re
from contextlib import closing

import psycopg2
import pytest
from flask_migrate import upgrade

from chatapp.extensions import db
from chatapp.services import chat_store
from support.databases import create_pg_database, drop_pg_database, make_app, make_user

CALL = (
    "SELECT outcome, seq, parent_id FROM chatapp_append_item(%s, %s, %s, 'message', 'user', %s::jsonb,"
    " '{}'::jsonb, now(), now(), NULL, %s, %s)"
)
WRONG_INDEXES = ("uq_thread_items_thread_id_seq", "ix_thread_items_thread_id_parent_id_seq", "ix_threads_user_id")


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    url = create_pg_database()
    app = make_app(url, str(tmp_path_factory.mktemp("append-plans")))
    with app.app_context():
        upgrade()
    user_id = make_user(app)
    with app.app_context():
        thread_id = chat_store().create_thread(user_id).id
        db.session.remove()
        db.engine.dispose()
    yield url, user_id, thread_id
    drop_pg_database(url)


def _append(cur, user_id, thread_id, item_id, parent=None, parent_given=False):
    cur.execute(CALL, (user_id, thread_id, item_id, json.dumps(f"text of {item_id}"), parent, parent_given))
    return cur.fetchall()


def test_plans_cached_on_empty_tables_still_use_the_primary_keys(database):
    url, user_id, thread_id = database
    with closing(psycopg2.connect(url)) as conn:
        conn.autocommit = True
        cur = conn.cursor()
        # Ten calls of each path on empty tables: PL/pgSQL has switched to generic plans.
        for n in range(10):
            leaf = f"msg_b{n - 1}" if n else None
            assert _append(cur, user_id, thread_id, f"msg_a{n}") == [("created", 2 * n + 1, leaf)]
            assert _append(cur, user_id, thread_id, f"msg_a{n}")[0][:2] == ("exists", 2 * n + 1)
            assert _append(cur, user_id, thread_id, f"msg_b{n}", "msg_a0", True) == [("created", 2 * n + 2, "msg_a0")]
            assert _append(cur, user_id, thread_id, f"msg_c{n}", "msg_gone", True)[0][0] == "no_parent"
        # The thread grows to 20,000 items (the trigger indexes them for search as it goes), and
        # the user to 20,000 threads. ANALYZE (autovacuum's, here run at once) makes the cached
        # plans be made again, now for big tables.
        cur.execute(
            "INSERT INTO threads (id, user_id, metadata, created_at, updated_at, last_seq)"
            " SELECT 'thr_bulk' || g, %s, '{}', now(), now(), 0 FROM generate_series(1, 20000) AS g",
            (user_id,),
        )
        cur.execute(
            "INSERT INTO thread_items (thread_id, id, seq, type, role, content, metadata, created_at, parent_id)"
            " SELECT %s, 'msg_bulk' || g, 100 + g, 'message', 'user', to_jsonb('bulk ' || g), '{}', now(), NULL"
            " FROM generate_series(1, 20000) AS g",
            (thread_id,),
        )
        cur.execute("UPDATE threads SET last_seq = 20100 WHERE id = %s", (thread_id,))
        cur.execute("ANALYZE thread_items")
        cur.execute("ANALYZE threads")

        conn.notices = []
        cur.execute("LOAD 'auto_explain'")
        cur.execute(
            "SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;"
            " SET client_min_messages = log"
        )
        assert _append(cur, user_id, thread_id, "msg_new") == [("created", 20101, "msg_b9")]
        assert _append(cur, user_id, thread_id, "msg_new")[0][0] == "exists"
        assert _append(cur, user_id, thread_id, "msg_new2", "msg_bulk19999", True)[0][0] == "created"
        assert _append(cur, user_id, thread_id, "msg_new3", "msg_gone", True)[0][0] == "no_parent"
        cur.execute("SET client_min_messages = notice")

    plans = "".join(conn.notices)
    lookups = re.findall(r"Index (?:Only )?Scan using (\w+) on (\w+)", plans)
    assert ("pk_threads", "threads") in lookups, plans
    assert ("pk_thread_items", "thread_items") in lookups, plans  # the parent check and the re-sent id
    assert {index for index, _ in lookups} <= {"pk_threads", "pk_thread_items"}, lookups
    assert "Seq Scan" not in plans and "Bitmap" not in plans, plans
    assert not any(name in plans for name in WRONG_INDEXES), plans

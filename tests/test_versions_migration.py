"""Migration 0005 (item versions) on SQLite and PostgreSQL: existing threads become single branches
(each item follows the one before it, the newest is the leaf), appends keep working across the
upgrade, and the downgrade gives back 0004's schema and 0002's append function."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from chatapp.extensions import db
from chatapp.models import utcnow
from chatapp.services import chat_store


def rows(statement: str, **params):
    return db.session.execute(sa.text(statement), params).all()


def test_upgrade_makes_each_existing_thread_one_branch(app, user_id, backend):
    with app.app_context():
        downgrade(revision="0004")
        now = utcnow() if backend == "postgresql" else utcnow().replace(tzinfo=None)
        for thread_id, count in (("thr_old", 3), ("thr_empty", 0), ("thr_other", 2)):
            db.session.execute(
                sa.text(
                    "INSERT INTO threads (id, user_id, metadata, created_at, updated_at, last_seq)"
                    " VALUES (:id, :user, '{}', :now, :now, :count)"
                ),
                {"id": thread_id, "user": user_id, "now": now, "count": count},
            )
            for seq in range(1, count + 1):
                db.session.execute(
                    sa.text(
                        "INSERT INTO thread_items (thread_id, id, seq, type, role, content, metadata, created_at)"
                        " VALUES (:thread, :id, :seq, 'message', 'user', '\"hi\"', '{}', :now)"
                    ),
                    {"thread": thread_id, "id": f"msg_{seq}", "seq": seq, "now": now},
                )
        db.session.commit()
        upgrade()
        parents = rows("SELECT thread_id, id, parent_id FROM thread_items ORDER BY thread_id, seq")
        leaves = dict(rows("SELECT id, leaf_id FROM threads WHERE id IN ('thr_old', 'thr_empty', 'thr_other')"))
        db.session.remove()

        assert [tuple(row) for row in parents] == [
            ("thr_old", "msg_1", None), ("thr_old", "msg_2", "msg_1"), ("thr_old", "msg_3", "msg_2"),
            ("thr_other", "msg_1", None), ("thr_other", "msg_2", "msg_1"),
        ]
        assert leaves == {"thr_old": "msg_3", "thr_empty": None, "thr_other": "msg_2"}
        store = chat_store()
        appended, _ = store.add_item(user_id, "thr_old", role="user", content="after the upgrade")
        assert (appended.seq, appended.parent_id) == (4, "msg_3")
        assert [item.id for item in store.list_branch(user_id, "thr_old", order="asc").data] == ["msg_1", "msg_2", "msg_3", appended.id]
        db.session.remove()


def test_downgrade_restores_the_0002_append(app, user_id, backend):
    with app.app_context():
        store = chat_store()
        thread = store.create_thread(user_id)
        store.add_item(user_id, thread.id, role="user", content="before")
        db.session.remove()
        downgrade(revision="0004")
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("thread_items")}
        assert "parent_id" not in columns
        if backend == "postgresql":  # 0002's function, with its own signature, is back
            row = db.session.execute(
                sa.text(
                    "SELECT * FROM chatapp_append_item(:user, :thread, 'msg_down', 'message', 'user',"
                    " '\"x\"'::jsonb, '{}'::jsonb, now(), now(), NULL)"
                ),
                {"user": user_id, "thread": thread.id},
            ).one()
            assert row.created and row.seq == 2
            db.session.commit()
        db.session.remove()
        upgrade()
        store = chat_store()
        newest = store.list_items(user_id, thread.id, order="desc", limit=1).data[0]
        assert newest.id == ("msg_down" if backend == "postgresql" else newest.id)
        assert store.add_item(user_id, thread.id, role="user", content="after")[0].parent_id == newest.id
        db.session.remove()

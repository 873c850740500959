"""The legacy import over time and at its edges: seed 002's tables in chatapp's own database
(`flask db upgrade` moves them aside), new rows later, owners, conflicts, clipping, bad sources."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

pytest.importorskip("chatkit", reason="openai-chatkit is not installed: the samples are built with its types")

from chatapp.extensions import db  # noqa: E402
from chatapp.legacy.source import LegacySource  # noqa: E402
from chatapp.services import chat_store  # noqa: E402
from chatapp.store.accounts import AccountStore  # noqa: E402
from support.api_client import ApiClient  # noqa: E402
from support.databases import BACKENDS, create_pg_database, drop_pg_database  # noqa: E402
from support.legacy_samples import fill_002, fill_004  # noqa: E402
from support.legacy_schemas import TIE, at, create, insert, report_rows, table_digest  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_CONFIG = {"MAX_MESSAGE_CHARS": 60}


def flask(url: str, instance: Path, *args: str) -> subprocess.CompletedProcess:
    """The real `flask --app wsgi ...` command, as an operator runs it."""
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(32), "CHATAPP_INSTANCE_PATH": str(instance)}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = create_pg_database("collision")
        yield url
        drop_pg_database(url)


def test_upgrade_moves_seed_002_tables_aside_and_the_import_reads_them_there(database_url, tmp_path):
    engine = sa.create_engine(database_url)
    sample = fill_002(engine)
    before = table_digest(engine, ["threads", "thread_items"])

    upgrade = flask(database_url, tmp_path, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    moved = [line for line in upgrade.stderr.splitlines() if "moved the existing legacy tables" in line]
    assert len(moved) == 1, upgrade.stderr
    assert "threads, thread_items aside to legacy_threads, legacy_thread_items (data untouched)" in moved[0]
    assert 'flask chat import-legacy --from "$DATABASE_URL" --owner EMAIL' in moved[0]
    after = table_digest(engine, ["legacy_threads", "legacy_thread_items"])
    assert list(after.values()) == list(before.values())
    assert sa.inspect(engine).has_table("threads")  # chatapp's own, now
    assert flask(database_url, tmp_path, "db", "upgrade").returncode == 0  # once is enough

    assert flask(database_url, tmp_path, "chat", "create-user", "me@example.com", "--password", "long enough pw").returncode == 0
    imported = flask(database_url, tmp_path, "chat", "import-legacy", "--from", database_url, "--owner", "me@example.com")
    assert imported.returncode == 2, imported.stderr  # one bad row, reported
    assert "found:  legacy_threads, legacy_thread_items (seed 002)" in imported.stdout
    assert "legacy_thread_items i4: it has no content" in imported.stderr
    good, bad = sum(len(thread.items) for thread in sample.threads), len(sample.bad["thread_items"])
    assert report_rows(imported.stdout)["legacy_thread_items"] == [good + bad, good, 0, bad, 0]
    again = flask(database_url, tmp_path, "chat", "import-legacy", "--from", database_url, "--owner", "me@example.com")
    assert report_rows(again.stdout) == {"legacy_threads": [2, 0, 2, 0, 0], "legacy_thread_items": [good + bad, 0, good, bad, 0]}
    stats = flask(database_url, tmp_path, "chat", "stats")
    assert f"threads: {len(sample.threads)}" in stats.stdout and f"items: {good}" in stats.stdout
    assert table_digest(engine, ["legacy_threads", "legacy_thread_items"]) == after
    engine.dispose()


@pytest.fixture
def legacy_004(app, tmp_path):
    with app.app_context():
        backend = db.engine.dialect.name
    url = f"sqlite:///{tmp_path / 'legacy.db'}" if backend == "sqlite" else create_pg_database("legacy")
    engine = sa.create_engine(url)
    sample = fill_004(engine, prefix=f"{secrets.token_hex(3)}-")  # the tests share chatapp's database
    yield url, engine, sample
    engine.dispose()
    if backend == "postgresql":
        drop_pg_database(url)


def owner(app) -> ApiClient:
    client = ApiClient(app)
    with app.app_context():
        email = AccountStore(db.session).get_user(client.user_id).email
        db.session.remove()
    client.email = email
    return client


def test_threads_without_a_user_id_need_an_owner(app, legacy_004):
    url, _, _ = legacy_004
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["chat", "import-legacy", "--from", url])
    assert refused.exit_code == 1 and "chat_sessions hold threads without a user id: pass --owner EMAIL" in refused.output
    unknown = runner.invoke(args=["chat", "import-legacy", "--from", url, "--owner", "nobody@example.com"])
    assert unknown.exit_code == 1 and "No user with the email nobody@example.com" in unknown.output
    assert "threads: 0" in runner.invoke(args=["chat", "stats"]).output


def test_rows_that_appear_later_are_imported_alone_after_the_others(app, legacy_004):
    url, engine, sample = legacy_004
    me = owner(app)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["chat", "import-legacy", "--from", url, "--owner", me.email]).exit_code == 2
    session = sample.threads[0].thread_id
    insert(engine, "chat_messages", [  # older than every imported message, yet it comes after them
        {"id": 10, "session_id": session, "role": "user", "content": "Ek aur sawaal", "created_at": at(-60)},
    ])
    new = f"{session}-new"
    sessions = [{"session_id": new, "metadata": {}, "created_at": TIE, "last_activity": TIE}]
    if engine.dialect.name == "sqlite":
        sessions[0]["id"] = "f" * 32
    insert(engine, "chat_sessions", sessions, json_columns=("metadata",))
    insert(engine, "chat_messages", [{"id": 11, "session_id": new, "role": "user", "content": "naya", "created_at": TIE}])
    again = runner.invoke(args=["chat", "import-legacy", "--from", url, "--owner", me.email])
    assert report_rows(again.output) == {"chat_sessions": [3, 1, 2, 0, 0], "chat_messages": [6, 2, 3, 1, 0]}
    items = me.get(f"/threads/{session}/items").get_json()["data"]
    assert [(i["id"], i["seq"]) for i in items] == [("msg_1", 1), ("msg_2", 2), ("msg_4", 3), ("msg_10", 4)]
    assert me.get(f"/threads/{new}/items").get_json()["data"][0]["content"] == "naya"


def test_a_row_changed_after_its_import_is_reported_and_kept_as_imported(app, legacy_004):
    url, engine, sample = legacy_004
    me = owner(app)
    runner = app.test_cli_runner()
    runner.invoke(args=["chat", "import-legacy", "--from", url, "--owner", me.email])
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE chat_messages SET content = 'rewritten' WHERE id = 2")
    again = runner.invoke(args=["chat", "import-legacy", "--from", url, "--owner", me.email])
    assert report_rows(again.output)["chat_messages"] == [4, 0, 2, 1, 1]
    assert "changed: chat_messages 2: changed since it was imported; kept as imported" in again.output
    stored = me.get(f"/threads/{sample.threads[0].thread_id}/items/msg_2").get_json()
    assert stored["content"] == "ROS 2 ek robotics middleware hai."


def test_a_thread_id_taken_by_another_user_is_skipped_with_its_rows(app, legacy_004):
    url, _, sample = legacy_004
    first, second = owner(app), owner(app)
    session = sample.threads[0].thread_id
    with app.app_context():
        chat_store().create_thread(first.user_id, thread_id=session, title="mine already")
        db.session.remove()
    result = app.test_cli_runner().invoke(args=["chat", "import-legacy", "--from", url, "--owner", second.email])
    assert result.exit_code == 2
    assert f"chat_sessions {session}: A thread with id {session} exists already." in result.output
    assert f"chat_messages 1: its thread {session} was skipped" in result.output
    assert first.get(f"/threads/{session}").get_json()["title"] == "mine already"
    assert first.get(f"/threads/{session}/items").get_json()["data"] == []


def test_a_skipped_thread_does_not_stop_its_owners_other_threads(app, tmp_path):
    """The first thread of an external user conflicts (its unit rolls back); the second imports."""
    with app.app_context():
        backend = db.engine.dialect.name
    url = f"sqlite:///{tmp_path / 'chatkit.db'}" if backend == "sqlite" else create_pg_database("legacy")
    engine = sa.create_engine(url)
    try:
        create(engine, ["000/001"])
        prefix = secrets.token_hex(3)
        taken, free = f"{prefix}-a-taken", f"{prefix}-b-free"  # the taken one comes first
        insert(engine, "chatkit_thread", [
            {"id": taken, "userId": f"{prefix}-host", "metadata": {}, "createdAt": at(0), "updatedAt": at(0)},
            {"id": free, "userId": f"{prefix}-host", "metadata": {}, "createdAt": at(1), "updatedAt": at(1)},
        ], json_columns=("metadata",))
        insert(engine, "chatkit_thread_item", [
            {"id": "m1", "threadId": taken, "type": "user", "content": {"content": "first"}, "createdAt": at(0)},
            {"id": "m2", "threadId": free, "type": "user", "content": {"content": "second"}, "createdAt": at(1)},
        ], json_columns=("content",))
        somebody = owner(app)
        with app.app_context():
            chat_store().create_thread(somebody.user_id, thread_id=taken)
            db.session.remove()
        result = app.test_cli_runner().invoke(args=["chat", "import-legacy", "--from", url])
        assert result.exit_code == 2, result.output
        assert report_rows(result.output)["chatkit_thread"] == [2, 1, 0, 1, 0]
        with app.app_context():
            host = AccountStore(db.session).ensure_external_user(f"{prefix}-host")
            items = chat_store().list_items(host, free).data
            db.session.remove()
        assert [(i.role, i.content) for i in items] == [("user", "second")]
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


def test_long_messages_are_clipped_with_the_whole_text_kept(app, legacy_004):
    url, engine, sample = legacy_004
    me = owner(app)
    long_text = "लंबा संदेश " * 20
    insert(engine, "chat_messages", [
        {"id": 20, "session_id": sample.threads[0].thread_id, "role": "assistant", "content": long_text, "created_at": at(70)},
    ])
    result = app.test_cli_runner().invoke(args=["chat", "import-legacy", "--from", url, "--owner", me.email])
    assert "messages clipped to MAX_MESSAGE_CHARS: 1 (whole text in metadata.legacy.content)" in result.output
    item = me.get(f"/threads/{sample.threads[0].thread_id}/items/msg_20").get_json()
    assert len(item["content"]) == APP_CONFIG["MAX_MESSAGE_CHARS"] and item["content"].endswith("…")
    assert item["metadata"]["legacy"]["content"] == long_text


def test_the_source_is_opened_read_only(legacy_004):
    url, _, _ = legacy_004
    with LegacySource(url) as source:
        with pytest.raises(sa.exc.DBAPIError, match="read-only|readonly"):
            source.connection.exec_driver_sql("DELETE FROM chat_messages")
    with LegacySource(url) as source:
        assert source.count("chat_messages") == 4


def test_sources_that_cannot_be_read_are_clear_errors(app, tmp_path):
    runner = app.test_cli_runner()
    cases = {
        f"sqlite:///{tmp_path / 'missing.db'}": "no SQLite database file",
        "postgresql://postgres@127.0.0.1:1/nowhere": "cannot open",
        "mysql://user@host/db": "chatapp supports postgresql:// (PostgreSQL, Neon) and sqlite://",
    }
    empty = tmp_path / "empty.db"
    sa.create_engine(f"sqlite:///{empty}").connect().close()
    cases[f"sqlite:///{empty}"] = "no legacy chat tables found"
    for url, message in cases.items():
        result = runner.invoke(args=["chat", "import-legacy", "--from", url])
        assert result.exit_code == 1 and message in result.output, (url, result.output)
    assert not (tmp_path / "missing.db").exists()  # read-only: nothing was created


def test_thread_updated_at_covers_the_newest_item(app, legacy_004):
    url, _, sample = legacy_004
    me = owner(app)
    app.test_cli_runner().invoke(args=["chat", "import-legacy", "--from", url, "--owner", me.email])
    thread = me.get(f"/threads/{sample.threads[0].thread_id}").get_json()
    assert (thread["created_at"], thread["updated_at"]) == (at(0).isoformat(), at(50).isoformat())

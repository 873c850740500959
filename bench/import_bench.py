"""Legacy import speed and export memory (issue #15).

- Legacy import: seed 004's `chat_sessions` / `chat_messages` (the seed note's DDL, from
  tests/support/legacy_schemas.py) with 100,000 messages in 1,000 sessions, in a database of their own,
  imported by `LegacyImport` (what `flask chat import-legacy` runs) into the bench database; then
  the same import again, which finds everything there.
- Export: a 100,000-item thread (bulk-seeded by bench/seed_bulk.py) through the API's streamed
  JSON export and the ZIP export: time, size, and the peak of Python memory (tracemalloc, in a
  second pass: tracing slows the code down).

    .venv/bin/python -m bench.import_bench [--quick]    # its own databases, created and dropped
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
import tracemalloc
from contextlib import closing
from datetime import UTC, datetime, timedelta

import psycopg2
from sqlalchemy.engine import make_url

from bench.common import DATABASE_NAME, SERVER_URL, admin_connection, chatapp_app, libpq_dsn
from tests.support.legacy_schemas import DDL

LEGACY_DATABASE = f"{DATABASE_NAME}_legacy"
LEGACY_URL = make_url(SERVER_URL).set(database=LEGACY_DATABASE).render_as_string(hide_password=False)
WORDS = "ROS 2 kya hai node topic publish karo samjhao नमस्ते सवाल जवाब robot arm sensor data".split()


def create_legacy_database(sessions: int, per_session: int) -> int:
    """Seed 004's tables with `sessions` x `per_session` messages (COPY); returns the count."""

    with closing(admin_connection()) as conn, conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{LEGACY_DATABASE}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{LEGACY_DATABASE}"')
    rng = random.Random(4)
    start = datetime(2024, 6, 1, tzinfo=UTC)
    session_rows, message_rows = [], []
    for number in range(sessions):
        session_id = f"sess-{number:05d}"
        created = start + timedelta(hours=number)
        session_rows.append((session_id, json.dumps({"title": f"session {number}"}), created, created + timedelta(hours=1)))
        for n in range(per_session):
            assistant = n % 2 == 1
            message_rows.append((
                len(message_rows) + 1, session_id, "assistant" if assistant else "user",
                " ".join(rng.choices(WORDS, k=rng.randint(6, 30))),
                json.dumps([{"chunk_id": f"ch-{n}", "score": 0.8}]) if assistant else "[]",
                0.75 if assistant else None, rng.randint(50, 500) if assistant else None,
                created + timedelta(seconds=n),
            ))
    with closing(psycopg2.connect(libpq_dsn(LEGACY_URL))) as conn, conn, conn.cursor() as cursor:
        for statement in DDL["004"]["postgresql"]:
            cursor.execute(statement)
        for table, columns, rows in (
            ("chat_sessions", "session_id, metadata, created_at, last_activity", session_rows),
            ("chat_messages", "id, session_id, role, content, sources, confidence, tokens_used, created_at", message_rows),
        ):
            buffer = io.StringIO()
            csv.writer(buffer).writerows(rows)
            buffer.seek(0)
            cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
    return len(message_rows)


def drop_legacy_database() -> None:
    with closing(admin_connection()) as conn, conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{LEGACY_DATABASE}" WITH (FORCE)')


def run_legacy(quick: bool = False) -> dict:
    from chatapp.extensions import db
    from chatapp.legacy.importer import LegacyImport
    from chatapp.legacy.source import LegacySource
    from chatapp.services import account_store, chat_store

    sessions, per_session = (100, 100) if quick else (1000, 100)
    messages = create_legacy_database(sessions, per_session)
    app = chatapp_app()
    runs = []
    try:
        with app.app_context():
            owner = account_store().create_user("legacy-owner@example.com", "bench password 123").id
            db.session.remove()
            for _ in range(2):  # the import, then the same import again
                started = time.perf_counter()
                with LegacySource(LEGACY_URL) as source:
                    report = LegacyImport(chat_store(), account_store(), source, owner_id=owner).run()
                seconds = time.perf_counter() - started
                db.session.remove()
                counts = report.tables["chat_messages"]
                runs.append({"seconds": seconds, "imported": counts.imported, "present": counts.present,
                             "skipped": counts.skipped})
            db.engine.dispose()
    finally:
        drop_legacy_database()
    first, again = runs
    return {"sessions": sessions, "messages": messages, "first": first, "again": again,
            "messages_per_second": messages / first["seconds"]}


def _consume(client, path: str, headers: dict, traced: bool) -> dict:
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    response = client.get(path, headers=headers, buffered=False)
    size = chunks = 0
    for chunk in response.response:
        size += len(chunk)
        chunks += 1
    response.close()
    figure = {"status": response.status_code, "bytes": size, "chunks": chunks, "seconds": time.perf_counter() - started}
    if traced:
        figure["peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return figure


def run_export(quick: bool = False) -> dict:
    from bench.seed import message_text
    from bench.seed_bulk import bulk_fill_thread
    from chatapp.extensions import db
    from chatapp.services import account_store, chat_store

    items = 10_000 if quick else 100_000
    app = chatapp_app()
    with app.app_context():
        user = account_store().create_user("export@example.com", "bench password 123").id
        _, token = account_store().create_token(user, "export bench")
        thread = chat_store().create_thread(user, title=f"{items:,} items").id
        db.session.remove()
    bulk_fill_thread(thread, items, message_text)
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    results = {"items": items}
    for name, path in (("json", f"/api/v1/threads/{thread}/export"), ("zip", "/api/v1/export")):
        _consume(client, path, headers, traced=False)  # warm
        timed = _consume(client, path, headers, traced=False)
        traced = _consume(client, path, headers, traced=True)
        results[name] = {**timed, "peak_bytes": traced["peak_bytes"]}
    with app.app_context():
        db.engine.dispose()
    return results


def main() -> None:
    import argparse

    from bench.common import create_database, drop_database
    from bench.run import migrate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    create_database()
    try:
        migrate()
        legacy = run_legacy(args.quick)
        export = run_export(args.quick)
    finally:
        drop_database()
    print(f"legacy import: {legacy['messages']:,} messages in {legacy['first']['seconds']:.1f} s "
          f"({legacy['messages_per_second']:,.0f}/s); again: {legacy['again']['seconds']:.1f} s, "
          f"{legacy['again']['imported']} imported, {legacy['again']['present']:,} already there")
    for name in ("json", "zip"):
        figure = export[name]
        print(f"export {name}: {figure['bytes'] / 1e6:.1f} MB in {figure['seconds']:.1f} s, "
              f"{figure['chunks']} chunks, peak Python memory {figure['peak_bytes'] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

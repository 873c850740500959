"""Store operations per second (no HTTP): chatapp's store against raw psycopg2 and the seeds' pattern.

- chatapp: ChatStore on the app's pooled engine; each operation ends like a request does
  (`db.session.remove()`), so every call checks a connection out of the pool (with its ping).
- raw psycopg2, one persistent connection: the same SQL, the driver's floor.
- connect per call: a new psycopg2 connection for every operation, as the seed notes
  (../shared/seeds/000_*.txt) do, against the same chatapp store on its pool.
"""

from __future__ import annotations

import json
import random
from contextlib import closing
from datetime import UTC, datetime

import psycopg2
from psycopg2.extras import RealDictCursor

from bench.common import chatapp_app, libpq_dsn, ops_per_second
from bench.seed import Seeded, message_text

READ_SQL = """
SELECT i.id, i.thread_id, i.seq, i.type, i.role, i.content, i.metadata, i.created_at
FROM thread_items i JOIN threads t ON t.id = i.thread_id
WHERE i.thread_id = %(thread)s AND t.user_id = %(user)s
ORDER BY i.seq DESC LIMIT 51
"""
BUMP_SQL = """
UPDATE threads SET last_seq = last_seq + 1, updated_at = %(now)s
WHERE id = %(thread)s AND user_id = %(user)s RETURNING last_seq
"""
INSERT_SQL = """
INSERT INTO thread_items (thread_id, id, seq, type, role, content, metadata, created_at)
VALUES (%(thread)s, %(id)s, %(seq)s, 'message', 'user', %(content)s, '{}', %(now)s)
ON CONFLICT (thread_id, id) DO NOTHING RETURNING seq
"""


def _raw_append(conn, seeded: Seeded, rng: random.Random, counter: list[int]) -> None:
    counter[0] += 1
    now = datetime.now(UTC)
    thread = rng.choice(seeded.append_threads)
    with conn.cursor() as cur:
        cur.execute(BUMP_SQL, {"now": now, "thread": thread, "user": seeded.user_id})
        seq = cur.fetchone()[0]
        cur.execute(
            INSERT_SQL,
            {
                "thread": thread,
                "id": f"msg_raw_{rng.getrandbits(96):024x}",
                "seq": seq,
                "content": json.dumps(message_text(counter[0])),
                "now": now,
            },
        )
    conn.commit()


def _raw_read(conn, seeded: Seeded) -> list:
    with conn.cursor() as cur:
        cur.execute(READ_SQL, {"thread": seeded.read_thread, "user": seeded.user_id})
        rows = cur.fetchall()
    conn.commit()
    return rows


def _seed_style_read(seeded: Seeded) -> list:
    """One operation as the seed notes write it: connect, RealDictCursor, query, close."""
    conn = psycopg2.connect(dsn=libpq_dsn())
    try:
        cursor = conn.cursor(cursor_factory=RealDictCursor)
        cursor.execute(READ_SQL, {"thread": seeded.read_thread, "user": seeded.user_id})
        return cursor.fetchall()
    finally:
        conn.close()


def _seed_style_append(seeded: Seeded, rng: random.Random, counter: list[int]) -> None:
    conn = psycopg2.connect(dsn=libpq_dsn())
    try:
        _raw_append(conn, seeded, rng, counter)
    finally:
        conn.close()


def run(seeded: Seeded, seconds: float = 1.5, rounds: int = 3) -> dict:
    from chatapp.extensions import db
    from chatapp.store import ChatStore

    rng = random.Random(7)
    counter = [0]
    results: dict[str, dict] = {}
    app = chatapp_app()
    with app.app_context():

        def store_read():
            ChatStore(db.session).list_items(seeded.user_id, seeded.read_thread, limit=50, order="desc")
            db.session.remove()

        def store_append():
            counter[0] += 1
            ChatStore(db.session).add_item(
                seeded.user_id,
                rng.choice(seeded.append_threads),
                role="user",
                content=message_text(counter[0]),
            )
            db.session.remove()

        results["chatapp_read"] = ops_per_second(store_read, seconds, rounds).as_dict()
        results["chatapp_append"] = ops_per_second(store_append, seconds, rounds).as_dict()
        db.engine.dispose()

    with closing(psycopg2.connect(libpq_dsn())) as conn:
        results["raw_read"] = ops_per_second(lambda: _raw_read(conn, seeded), seconds, rounds).as_dict()
        results["raw_append"] = ops_per_second(
            lambda: _raw_append(conn, seeded, rng, counter), seconds, rounds
        ).as_dict()

    results["seed_style_read"] = ops_per_second(lambda: _seed_style_read(seeded), seconds, rounds, warmup=5).as_dict()
    results["seed_style_append"] = ops_per_second(
        lambda: _seed_style_append(seeded, rng, counter), seconds, rounds, warmup=5
    ).as_dict()
    return results

"""SEEDING ONLY: fill one thread with many items in a single INSERT ... SELECT.

Appending 100,000 items through the store would take minutes; this writes the same rows
(consecutive seq from 1, each item following the one before it, the thread's last_seq and leaf
set to match) in about a second. No front
of chatapp may do this: the store is the only writer of the application's data.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing

import psycopg2

from bench.common import libpq_dsn

ITEM_ID_FORMAT = "msg_bulk_{:08d}"


def bulk_fill_thread(thread_id: str, count: int, text: Callable[[int], str]) -> Callable[[int], str]:
    """Insert items with seq 1..count into an empty thread; returns seq -> item id."""
    sample = text(0)
    prefix = sample.split(":", 1)[1]  # message_text(n) is "Message n:" + a fixed sentence
    with closing(psycopg2.connect(libpq_dsn())) as conn, conn, conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO thread_items (thread_id, id, seq, type, role, content, metadata, created_at, parent_id)
            SELECT %(thread)s,
                   'msg_bulk_' || lpad(g::text, 8, '0'),
                   g,
                   'message',
                   CASE WHEN g %% 2 = 1 THEN 'user' ELSE 'assistant' END,
                   to_jsonb('Message ' || g || ':' || %(prefix)s),
                   '{}'::jsonb,
                   now() - interval '1 day' + g * interval '100 milliseconds',
                   CASE WHEN g > 1 THEN 'msg_bulk_' || lpad((g - 1)::text, 8, '0') END
            FROM generate_series(1, %(count)s) AS g
            """,
            {"thread": thread_id, "prefix": prefix, "count": count},
        )
        cur.execute(
            "UPDATE threads SET last_seq = %(count)s, updated_at = now(), leaf_id = %(leaf)s"
            " WHERE id = %(thread)s AND last_seq = 0",
            {"thread": thread_id, "count": count, "leaf": ITEM_ID_FORMAT.format(count)},
        )
        if cur.rowcount != 1:
            raise RuntimeError(f"thread {thread_id} was not empty; bulk seeding needs an empty thread")
    with closing(psycopg2.connect(libpq_dsn())) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE thread_items")
            cur.execute("VACUUM ANALYZE threads")
    return ITEM_ID_FORMAT.format

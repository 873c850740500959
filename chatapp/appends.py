"""The PostgreSQL append: bump the thread's counter and insert the item in one statement.

One statement is one round trip and, on an autocommit connection, one transaction: the counter
bump and the insert commit together or not at all, so a dropped connection can leave neither a
half-written append nor a gap. Only the store uses this module (ChatStore.add_item).

- `existing` looks the id up first (scoped to the thread's owner). When it exists, `bump` does
  not run, so a re-sent id takes no seq, and the stored body is compared with the sent one in
  the database, as JSONB (numbers compare by value, as they are stored).
- `bump` takes the thread row's lock: concurrent appends to one thread queue on it and commit
  in seq order.
- When two requests send the same new id at the same moment, both see no `existing`, both bump,
  and the later insert does nothing (ON CONFLICT). The store then gives that seq back when no
  later append has taken the next one, else it stays unused (a gap, never a duplicate), and
  reads the winner's item (`bumped` set, nothing inserted).
"""

from __future__ import annotations

import sqlalchemy as sa

from .models import UTCDateTime

APPEND_ITEM = sa.text(
    """
WITH existing AS (
    SELECT i.seq, i.type, i.role, i.content, i.metadata, i.created_at
    FROM thread_items AS i JOIN threads AS t ON t.id = i.thread_id
    WHERE i.thread_id = :thread_id AND i.id = :id AND t.user_id = :user_id
), bump AS (
    UPDATE threads
    SET last_seq = last_seq + 1, updated_at = :now, title = coalesce(title, :title)
    WHERE id = :thread_id AND user_id = :user_id AND NOT EXISTS (SELECT 1 FROM existing)
    RETURNING last_seq
), inserted AS (
    INSERT INTO thread_items (thread_id, id, seq, type, role, content, metadata, created_at)
    SELECT :thread_id, :id, bump.last_seq, :type, :role,
           CAST(:content AS jsonb), CAST(:metadata AS jsonb), :created_at
    FROM bump
    ON CONFLICT (thread_id, id) DO NOTHING
    RETURNING seq
)
SELECT (SELECT seq FROM inserted) AS inserted_seq,
       (SELECT last_seq FROM bump) AS bumped,
       e.seq, e.type, e.role, e.content, e.metadata, e.created_at,
       (e.type = :type AND e.role IS NOT DISTINCT FROM :role
        AND e.content = CAST(:content AS jsonb)
        AND coalesce(e.metadata, '{}'::jsonb) = CAST(:metadata AS jsonb)) AS same_body
FROM (VALUES (1)) AS one LEFT JOIN existing AS e ON true
"""
).columns(
    sa.column("inserted_seq", sa.BigInteger),
    sa.column("bumped", sa.BigInteger),
    sa.column("seq", sa.BigInteger),
    sa.column("type", sa.String),
    sa.column("role", sa.String),
    sa.column("content"),
    sa.column("metadata"),
    sa.column("created_at", UTCDateTime),
    sa.column("same_body", sa.Boolean),
)

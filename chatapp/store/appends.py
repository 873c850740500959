"""The PostgreSQL append: one call of `chatapp_append_item()` (migration 0002, replaced by 0005 and 0007).

One call is one round trip and, on an autocommit connection, one transaction: the counter bump
and the insert commit together or not at all, so a dropped connection leaves neither a
half-written append nor a gap. Inside the function, the thread row is locked first; the id is
looked up under that lock, so a re-sent id takes no seq and is compared with the sent body in
the database, as JSONB (numbers compare by value, as they are stored), and two sends of one new
id queue rather than both bump. The new item follows the thread's leaf, or the parent the caller
names (checked under the same lock), and becomes the leaf. Only the store uses this module
(ChatStore.add_item).

The answer is one row, or none when the thread is missing or belongs to another user:
`outcome` "created" for a new item (its `seq` and `parent_id`), "exists" for an existing id (its
stored fields, and `same_body`), "no_parent" when the named parent is not an item of the thread.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..models import UTCDateTime

APPEND_ITEM = sa.text(
    "SELECT * FROM chatapp_append_item(:user_id, :thread_id, :id, :type, :role,"
    " CAST(:content AS jsonb), CAST(:metadata AS jsonb), :created_at, :now, :title, :parent_id, :parent_given)"
).columns(
    sa.column("outcome", sa.String),
    sa.column("seq", sa.BigInteger),
    sa.column("parent_id", sa.String),
    sa.column("type", sa.String),
    sa.column("role", sa.String),
    sa.column("content"),
    sa.column("metadata"),
    sa.column("created_at", UTCDateTime),
    sa.column("same_body", sa.Boolean),
)

"""Item pages serialized by PostgreSQL itself, in one statement, for ChatStore.list_items_json.

The page comes back as the JSON text the API answers, `{"data": [...], "has_more", "after"}`,
with every item shaped like `ItemRecord.to_dict()`, so the hot read path decodes and
re-encodes nothing in Python. Only the store uses this module.
"""

from __future__ import annotations

import sqlalchemy as sa

# ItemRecord.to_dict()'s created_at: isoformat() of an aware UTC datetime, which leaves the
# fraction out when it is zero.
_CREATED_AT = (
    "to_char(i.created_at AT TIME ZONE 'UTC', CASE WHEN extract(microseconds FROM i.created_at)::bigint % 1000000 = 0"
    " THEN 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"' ELSE 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"' END)"
)
_ITEM = (
    "json_build_object('id', i.id, 'thread_id', i.thread_id, 'seq', i.seq, 'type', i.type, 'role', i.role,"
    " 'content', i.content, 'metadata', coalesce(nullif(i.metadata, 'null'::jsonb), '{}'::jsonb),"
    f" 'created_at', {_CREATED_AT})"
)
_PAGE = """
SELECT json_build_object(
         'data', coalesce(json_agg(page.doc ORDER BY page.rn) FILTER (WHERE page.rn <= :limit), '[]'::json),
         'has_more', count(*) > :limit,
         'after', CASE WHEN count(*) > :limit THEN max(page.id) FILTER (WHERE page.rn = :limit) END
       )::text AS body,
       count(*) AS fetched
FROM (
    SELECT i.id, {item} AS doc, row_number() OVER (ORDER BY i.seq {direction}) AS rn
    FROM thread_items AS i JOIN threads AS t ON t.id = i.thread_id
    WHERE i.thread_id = :thread_id AND t.user_id = :user_id {anchor}
    ORDER BY i.seq {direction}
    LIMIT :limit + 1
) AS page
"""
_ANCHOR = "AND i.seq {op} (SELECT a.seq FROM thread_items AS a WHERE a.thread_id = :thread_id AND a.id = :after)"


def _statement(order: str, with_after: bool) -> sa.TextClause:
    direction = "ASC" if order == "asc" else "DESC"
    anchor = _ANCHOR.format(op=">" if order == "asc" else "<") if with_after else ""
    return sa.text(_PAGE.format(item=_ITEM, direction=direction, anchor=anchor))


# Four fixed statements, built once: their compiled forms are cached by SQLAlchemy.
ITEM_PAGE_STATEMENTS = {
    (order, with_after): _statement(order, with_after)
    for order in ("asc", "desc")
    for with_after in (False, True)
}

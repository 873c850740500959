"""Item pages serialized by PostgreSQL itself, in one statement, for ChatStore.list_items_json.

The page comes back as the JSON text the API answers, `{"data": [...], "has_more", "after"}`,
with every item shaped like the ItemRecord the API would serialize, so the hot read path
decodes and re-encodes nothing in Python. The object's keys come from ItemRecord's fields (one
definition); only datetimes and metadata need an expression of their own. Only the store uses
this module.
"""

from __future__ import annotations

import dataclasses
import typing
from datetime import datetime

import sqlalchemy as sa

from .records import ItemRecord


def _datetime(column: str) -> str:
    """isoformat() of an aware UTC datetime (what the API writes), which drops a zero fraction."""
    return (
        f"to_char({column} AT TIME ZONE 'UTC', CASE WHEN extract(microseconds FROM {column})::bigint % 1000000 = 0"
        " THEN 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"' ELSE 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"' END)"
    )


def _expression(name: str, annotation: typing.Any) -> str:
    column = f"i.{name}"
    if annotation is datetime:
        return _datetime(column)
    if name == "metadata":
        return f"coalesce(nullif({column}, 'null'::jsonb), '{{}}'::jsonb)"
    return column


_HINTS = typing.get_type_hints(ItemRecord)
_ITEM = "json_build_object({})".format(
    ", ".join(f"'{field.name}', {_expression(field.name, _HINTS[field.name])}" for field in dataclasses.fields(ItemRecord))
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

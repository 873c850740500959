"""Full-text search over the acting user's items: ranked keyset pages with escaped, marked snippets.

What is searchable (migration 0003 defines it once per backend): a string content (messages),
or the text parts of a JSON object's `content` (a string, or the `text` of each part of an
array, as ChatKit items keep them); never JSON keys, ids or metadata.

- PostgreSQL: the column `thread_items.search_vector`, kept by a trigger (the `chatapp_search` text
  search configuration: `simple`, so no stemming and no stop words in any language, plus
  `unaccent`), a GIN index, `websearch_to_tsquery` and `ts_rank`; snippets by `ts_headline`.
- SQLite: the FTS5 table `thread_items_fts` (unicode61 tokenizer, diacritics removed), kept in
  sync by triggers; ranks by bm25, snippets by snippet().

Order: best rank first, then newest, then thread and item id (descending), so every hit has one
place. The cursor carries that sort key, signed (cursors.py), so the next page is one statement
with no lookup. Snippets come back from the database with control-character markers around the
matches (the characters are taken out of the text first); here the text is HTML-escaped and
the markers become <mark> tags, so a snippet holds no markup but those.
"""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..errors import InvalidRequest
from ..models import UTCDateTime
from ..rules import check_limit
from .base import StoreBase
from .records import Page, SearchHitRecord
from .search_query import parse_search
from .transactions import reads

START, STOP = "\x01", "\x02"
HEADLINE_OPTIONS = f"StartSel={START}, StopSel={STOP}, MaxWords=35, MinWords=15"
SNIPPET_TOKENS = 24

_POSTGRES_HITS = """
SELECT hit.thread_id, hit.item_id, hit.seq, t.title AS thread_title, hit.created_at, hit.role, hit.type,
       hit.rank,
       ts_headline('chatapp_search', translate(chatapp_search_text(i.content), :markers, ''), hit.query,
                   :headline_options) AS snippet
FROM (
    SELECT i.thread_id, i.id AS item_id, i.seq, i.created_at, i.role, i.type, q.query,
           ts_rank(i.search_vector, q.query, 1) AS rank
    FROM (SELECT websearch_to_tsquery('chatapp_search', :q) AS query) AS q,
         thread_items AS i JOIN threads AS owner ON owner.id = i.thread_id
    WHERE owner.user_id = :user_id AND i.search_vector @@ q.query
      AND querytree(q.query) NOT IN ('T', '') {anchor}
    ORDER BY rank DESC, i.created_at DESC, i.thread_id DESC, i.id DESC
    LIMIT :limit + 1
) AS hit
JOIN thread_items AS i ON i.thread_id = hit.thread_id AND i.id = hit.item_id
JOIN threads AS t ON t.id = hit.thread_id
ORDER BY hit.rank DESC, hit.created_at DESC, hit.thread_id DESC, hit.item_id DESC
"""
_POSTGRES_ANCHOR = (
    "AND (ts_rank(i.search_vector, q.query, 1), i.created_at, i.thread_id, i.id)"
    " < (CAST(:after_rank AS real), :after_created_at, :after_thread_id, :after_item_id)"
)

_SQLITE_HITS = """
SELECT i.thread_id, i.id AS item_id, i.seq, t.title AS thread_title, i.created_at, i.role, i.type,
       -bm25(thread_items_fts) AS rank,
       snippet(thread_items_fts, 0, :start, :stop, '…', :snippet_tokens) AS snippet
FROM thread_items_fts
JOIN thread_items AS i ON i.rowid = thread_items_fts.rowid
JOIN threads AS t ON t.id = i.thread_id
WHERE thread_items_fts MATCH :match AND t.user_id = :user_id {anchor}
ORDER BY rank DESC, i.created_at DESC, i.thread_id DESC, i.id DESC
LIMIT :limit + 1
"""
_SQLITE_ANCHOR = (
    "AND (-bm25(thread_items_fts), i.created_at, i.thread_id, i.id)"
    " < (:after_rank, :after_created_at, :after_thread_id, :after_item_id)"
)

_COLUMNS = (
    sa.column("thread_id", sa.String),
    sa.column("item_id", sa.String),
    sa.column("seq", sa.BigInteger),
    sa.column("thread_title", sa.String),
    sa.column("created_at", UTCDateTime),
    sa.column("role", sa.String),
    sa.column("type", sa.String),
    sa.column("rank", sa.Float),
    sa.column("snippet", sa.String),
)


def _statement(template: str, anchor: str) -> sa.TextClause:
    statement = sa.text(template.format(anchor=anchor)).columns(*_COLUMNS)
    if anchor:
        statement = statement.bindparams(sa.bindparam("after_created_at", type_=UTCDateTime))
    return statement


# Four fixed statements, built once: their compiled forms are cached by SQLAlchemy.
SEARCH_STATEMENTS = {
    ("postgresql", False): _statement(_POSTGRES_HITS, ""),
    ("postgresql", True): _statement(_POSTGRES_HITS, _POSTGRES_ANCHOR),
    ("sqlite", False): _statement(_SQLITE_HITS, ""),
    ("sqlite", True): _statement(_SQLITE_HITS, _SQLITE_ANCHOR),
}
NOTHING_TO_FIND = sa.text("SELECT querytree(websearch_to_tsquery('chatapp_search', :q)) IN ('T', '')")


def marked_snippet(raw: str | None) -> str:
    """The database's snippet as escaped HTML, its match markers turned into <mark> tags (and
    without the zero-width space the PostgreSQL search text puts after each '<')."""
    escaped = html.escape(raw or "", quote=True).replace("&lt;\u200b", "&lt;")
    return escaped.replace(START, "<mark>").replace(STOP, "</mark>")


class SearchStore(StoreBase):
    """The search method of ChatStore."""

    @reads
    def search(self, user_id: str, q: str, *, limit: int = 20, after: str | None = None) -> Page[SearchHitRecord]:
        """The user's items matching `q` (web search syntax), best first; one statement per page.

        `after` is the cursor of the previous page of this same search (user and q); any other
        value is an invalid request.
        """
        query = parse_search(q)
        check_limit(limit)
        scope = f"search\x00{user_id}\x00{q}"
        params: dict[str, Any] = {"user_id": user_id, "limit": limit}
        if after is not None:
            rank, created_at, thread_id, item_id = self.cursors.decode(scope, after, 4)
            params.update(
                after_rank=self._cursor_value(rank, float),
                after_created_at=self._cursor_time(created_at),
                after_thread_id=self._cursor_value(thread_id, str),
                after_item_id=self._cursor_value(item_id, str),
            )
        dialect = "postgresql" if self._postgres else "sqlite"
        if self._postgres:
            params.update(q=q, markers=START + STOP, headline_options=HEADLINE_OPTIONS)
        else:
            params.update(match=query.fts5(), start=START, stop=STOP, snippet_tokens=SNIPPET_TOKENS)
        rows = self._execute(SEARCH_STATEMENTS[dialect, after is not None], params).all()
        # No rows: no match, or (PostgreSQL's parser disagreeing with parse_search) nothing to find.
        if not rows and self._postgres and self._execute(NOTHING_TO_FIND, {"q": q}).scalar():
            raise InvalidRequest("q has no words to search for.", {"field": "q"})
        hits = [replace(SearchHitRecord.from_row(row), snippet=marked_snippet(row.snippet)) for row in rows[:limit]]
        cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            cursor = self.cursors.encode(scope, [last.rank, last.created_at.isoformat(), last.thread_id, last.item_id])
        return Page(hits, cursor is not None, cursor)

    @staticmethod
    def _cursor_value(value: Any, kind: type) -> Any:
        # Only this store signs cursors, so a wrong type means a key change between versions.
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind):
            raise InvalidRequest("Unknown cursor: `after` is not from this search.", {"field": "after"})
        return value

    @classmethod
    def _cursor_time(cls, value: Any) -> datetime:
        try:
            moment = datetime.fromisoformat(cls._cursor_value(value, str))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise InvalidRequest("Unknown cursor: `after` is not from this search.", {"field": "after"})
        return moment

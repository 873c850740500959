"""Search route: find the caller's messages across all their threads (ranked keyset pages)."""

from __future__ import annotations

from ..services import chat_store
from ..store import SearchHitRecord
from .registry import api
from .responses import page_response
from .schemas import SearchQuery


@api.route("/search", "GET", query=SearchQuery, response=SearchHitRecord, paged=True, tag="search")
def search(user_id: str, query: SearchQuery):
    """Search the caller's messages in all their threads, best match first (keyset pages).

    `q` uses web search syntax: words must all appear, "a quoted phrase" appears as written,
    OR offers alternatives, -word must not appear. Each hit's `snippet` is escaped HTML with
    the matched terms in <mark>; `after` is the opaque cursor of the previous page of the same
    search.
    """
    return page_response(chat_store().search(user_id, query.q, limit=query.limit, after=query.after))

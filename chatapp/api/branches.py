"""Branch routes: the branch a thread shows, the versions of an item, and switching between them."""

from __future__ import annotations

from ..services import chat_store
from ..store import BranchItemRecord, ItemRecord
from .registry import api
from .responses import page_response, record_response
from .schemas import BranchQuery, BranchSelect, VersionListQuery


@api.route("/threads/<thread_id>/branch", "GET", query=BranchQuery, response=BranchItemRecord, paged=True, tag="branches")
def list_branch(user_id: str, thread_id: str, query: BranchQuery):
    """List the branch the thread shows: its first item to its leaf (keyset pages).

    Each item carries `version` and `versions`: its place among the items that share its parent
    (edits of a message, regenerated replies). `GET .../items` still lists every item of every
    branch by seq.
    """
    page = chat_store().list_branch(user_id, thread_id, limit=query.limit, after=query.after, order=query.order)
    return page_response(page)


@api.route("/threads/<thread_id>/branch", "POST", body=BranchSelect, response=BranchItemRecord, tag="branches")
def select_branch(user_id: str, thread_id: str, body: BranchSelect):
    """Show another branch: the one through an item, or through one of its versions.

    The thread's leaf becomes the newest item under the selected item (where that branch was last
    continued), so the next message continues it. Answers the selected item.
    """
    record = chat_store().select_branch(user_id, thread_id, body.item_id, version=body.version)
    return record_response(record)


@api.route(
    "/threads/<thread_id>/items/<item_id>/versions",
    "GET",
    query=VersionListQuery,
    response=ItemRecord,
    paged=True,
    tag="branches",
)
def list_versions(user_id: str, thread_id: str, item_id: str, query: VersionListQuery):
    """List the versions of an item (the items that share its parent, itself included) by seq."""
    page = chat_store().list_versions(user_id, thread_id, item_id, limit=query.limit, after=query.after)
    return page_response(page)

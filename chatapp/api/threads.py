"""Thread routes: list, create, read, update and delete the caller's threads."""

from __future__ import annotations

from ..services import chat_store
from ..store import UNSET, ThreadRecord
from .registry import api
from .responses import no_content, page_response, record_response
from .schemas import ThreadCreate, ThreadListQuery, ThreadUpdate


@api.route("/threads", "GET", query=ThreadListQuery, response=ThreadRecord, paged=True, tag="threads")
def list_threads(user_id: str, query: ThreadListQuery):
    """List the caller's threads, most recently active first by default (keyset pages)."""
    page = chat_store().list_threads(user_id, limit=query.limit, after=query.after, order=query.order)
    return page_response(page)


@api.route("/threads", "POST", body=ThreadCreate, response=ThreadRecord, status=201, tag="threads")
def create_thread(user_id: str, body: ThreadCreate):
    """Create a thread."""
    record = chat_store().create_thread(user_id, title=body.title, metadata=body.metadata)
    return record_response(record, 201)


@api.route("/threads/<thread_id>", "GET", response=ThreadRecord, tag="threads")
def get_thread(user_id: str, thread_id: str):
    """Read one thread."""
    return record_response(chat_store().get_thread(user_id, thread_id))


@api.route("/threads/<thread_id>", "PATCH", body=ThreadUpdate, response=ThreadRecord, tag="threads")
def update_thread(user_id: str, thread_id: str, body: ThreadUpdate):
    """Change a thread's title and/or metadata; fields not sent stay as they are."""
    sent = body.model_fields_set
    record = chat_store().update_thread(
        user_id,
        thread_id,
        title=body.title if "title" in sent else UNSET,
        metadata=body.metadata if "metadata" in sent else UNSET,
    )
    return record_response(record)


@api.route("/threads/<thread_id>", "DELETE", status=204, tag="threads")
def delete_thread(user_id: str, thread_id: str):
    """Delete a thread with its items and attachments."""
    chat_store().delete_thread(user_id, thread_id)
    return no_content()

"""Item routes: page through, append (idempotently), read, update and delete a thread's items."""

from __future__ import annotations

from flask import Response

from ..services import chat_store
from ..store import UNSET, ItemRecord
from .registry import api
from .responses import JSON_MIMETYPE, no_content, record_response
from .schemas import ItemCreate, ItemListQuery, ItemUpdate


@api.route("/threads/<thread_id>/items", "GET", query=ItemListQuery, response=ItemRecord, paged=True, tag="items")
def list_items(user_id: str, thread_id: str, query: ItemListQuery):
    """List a thread's items by seq, oldest first by default (keyset pages)."""
    body = chat_store().list_items_json(user_id, thread_id, limit=query.limit, after=query.after, order=query.order)
    return Response(body, mimetype=JSON_MIMETYPE)  # the page's JSON, built by the store


@api.route(
    "/threads/<thread_id>/items",
    "POST",
    body=ItemCreate,
    response=ItemRecord,
    status=201,
    other_statuses=(200,),
    errors=(409,),
    tag="items",
)
def create_item(user_id: str, thread_id: str, body: ItemCreate):
    """Append an item; it gets the thread's next seq.

    Re-sending the same client `id` with the same body answers 200 with the stored item; the same
    id with another body answers 409. The item follows `parent_id` (default: the thread's leaf) and
    becomes the leaf; a `parent_id` that is not an item of the thread answers 400.
    """
    record, created = chat_store().add_item(
        user_id,
        thread_id,
        content=body.content,
        role=body.role,
        type=body.type,
        metadata=body.metadata,
        item_id=body.id,
        parent_id=body.parent_id if "parent_id" in body.model_fields_set else UNSET,
    )
    return record_response(record, 201 if created else 200)


@api.route("/threads/<thread_id>/items/<item_id>", "GET", response=ItemRecord, tag="items")
def get_item(user_id: str, thread_id: str, item_id: str):
    """Read one item."""
    return record_response(chat_store().get_item(user_id, thread_id, item_id))


@api.route("/threads/<thread_id>/items/<item_id>", "PATCH", body=ItemUpdate, response=ItemRecord, tag="items")
def update_item(user_id: str, thread_id: str, item_id: str, body: ItemUpdate):
    """Change an item's content and/or metadata; its seq, type and role stay."""
    sent = body.model_fields_set
    record = chat_store().update_item(
        user_id,
        thread_id,
        item_id,
        content=body.content if "content" in sent else UNSET,
        metadata=body.metadata if "metadata" in sent else UNSET,
    )
    return record_response(record)


@api.route("/threads/<thread_id>/items/<item_id>", "DELETE", status=204, tag="items")
def delete_item(user_id: str, thread_id: str, item_id: str):
    """Delete one item (the seq of the others does not change)."""
    chat_store().delete_item(user_id, thread_id, item_id)
    return no_content()

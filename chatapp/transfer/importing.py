"""Import a thread document: a new thread with the same items in the same order, in one unit of work.

The document is checked whole before anything is written (pydantic, then every item against the
store's rules, then the attachments' bytes), and written in one transaction: a bad document
imports nothing. Ids are new unless `keep_ids`, which is a conflict when the thread id or an
attachment id exists already. Times, seqs, roles, types, content and metadata are kept, so
exporting the imported thread gives the same document apart from new ids.
"""

from __future__ import annotations

from ..errors import Conflict, InvalidRequest
from ..ids import new_attachment_id, new_item_id, new_thread_id
from ..store import FOLLOWS_PREVIOUS, ChatStore, NewItem
from .document import ImportResult, ThreadDocument


def import_document(store: ChatStore, user_id: str, document: ThreadDocument, *, keep_ids: bool = False) -> ImportResult:
    """Create the document's thread for `user_id`; see the module doc."""
    new_items, new_ids = [], {}
    for index, item in enumerate(document.items):
        if item.id in new_ids:
            raise InvalidRequest(f"items.{index}: the id {item.id} appears twice", {"field": f"items.{index}.id"})
        new_ids[item.id] = item.id if keep_ids else new_item_id(item.type)
        if "parent_id" not in item.model_fields_set:
            parent = FOLLOWS_PREVIOUS  # a document from before versions: one straight branch
        elif item.parent_id is None:
            parent = None
        elif item.parent_id in new_ids and item.parent_id != item.id:
            parent = new_ids[item.parent_id]
        else:
            raise InvalidRequest(
                f"items.{index}: parent_id {item.parent_id} is not an earlier item of the document",
                {"field": f"items.{index}.parent_id"},
            )
        try:
            store.check_item(item.type, item.role, item.content, item.metadata)
        except InvalidRequest as exc:
            field = (exc.details or {}).get("field", "content")
            raise InvalidRequest(f"items.{index}: {exc.message}", {"field": f"items.{index}.{field}"}) from None
        new_items.append(
            NewItem(
                id=new_ids[item.id],
                type=item.type,
                role=item.role,
                content=item.content,
                metadata=item.metadata or {},
                created_at=item.created_at,
                seq=item.seq,
                parent_id=parent,
            )
        )
    leaf = document.thread.leaf_id
    if leaf is not None and leaf not in new_ids:
        raise InvalidRequest(f"thread.leaf_id {leaf} is not an item of the document", {"field": "thread.leaf_id"})
    with_content = [(part, part.content()) for part in document.attachments if part.content_base64 is not None]
    for index, (part, content) in enumerate(with_content):
        if len(content) != part.size:
            raise InvalidRequest(
                f"attachment {part.id}: size {part.size} does not match its {len(content)} bytes",
                {"field": f"attachments.{index}.size"},
            )
    thread = document.thread
    last_time = document.items[-1].created_at if document.items else thread.created_at
    with store.transaction():
        record, created = store.import_thread(
            user_id,
            thread_id=thread.id if keep_ids else new_thread_id(),
            title=thread.title,
            metadata=thread.metadata,
            created_at=thread.created_at,
            updated_at=thread.updated_at or last_time,
        )
        if not created:
            raise Conflict(f"A thread with id {thread.id} exists already.", {"field": "thread.id"})
        summary = store.append_items(
            user_id, record.id, new_items, updated_at=thread.updated_at or last_time, reserve_up_to=thread.last_seq,
            leaf_id=new_ids[leaf] if leaf is not None else None,
        )
        for part, content in with_content:
            _, attachment_created = store.import_attachment(
                user_id,
                attachment_id=part.id if keep_ids else new_attachment_id(),
                thread_id=record.id,
                filename=part.filename,
                content_type=part.content_type,
                content=content,
                metadata=part.metadata,
                created_at=part.created_at or thread.created_at,
            )
            if not attachment_created:
                raise Conflict(f"An attachment with id {part.id} exists already.", {"field": "attachments.id"})
        record = store.get_thread(user_id, record.id)
    return ImportResult(
        thread=record,
        items=summary.appended,
        attachments=len(with_content),
        attachments_without_content=[part.id for part in document.attachments if part.content_base64 is None],
    )

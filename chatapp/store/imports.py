"""Bringing history in: threads with their original times, items appended in bulk, attachments.

Used by the JSON import (chatapp/transfer) and the legacy import (chatapp/legacy). Every value
is fixed by the caller (ids, times, order), so running an import again finds what it wrote:
`import_thread` returns the user's own thread of that id, and `append_items` compares an item
id already in the thread with its body instead of storing it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from ..models import utcnow
from ..rules import (
    MAX_CONTENT_TYPE_CHARS,
    MAX_FILENAME_CHARS,
    check_file_field,
    check_id,
    check_metadata,
    check_storable_json,
    check_title,
)
from .base import StoreBase
from .records import ATTACHMENT_COLUMNS, THREAD_COLUMNS, AttachmentRecord, ThreadRecord, attachments, items, threads
from .threads import owned_thread

INSERT_BATCH = 1000


FOLLOWS_PREVIOUS: Any = type("FollowsPrevious", (), {"__repr__": lambda self: "FOLLOWS_PREVIOUS"})()


@dataclass(slots=True)
class NewItem:
    """An item to append in bulk; `seq` None takes the next one. `parent_id`: the item it follows
    (in the thread already, or earlier in the batch), None for a first item, or FOLLOWS_PREVIOUS:
    the item appended just before it (the thread's leaf for the first of the batch)."""

    id: str
    content: Any
    created_at: datetime
    type: str = "message"
    role: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    parent_id: Any = FOLLOWS_PREVIOUS


@dataclass(slots=True)
class AppendSummary:
    appended: int = 0
    present: int = 0  # ids in the thread already, with the same body: left alone
    conflicts: list[str] = field(default_factory=list)  # ids in the thread already, another body
    last_seq: int = 0


def _storable(value: Any, field_name: str) -> Any:
    try:
        return check_storable_json(value)
    except ValueError as exc:
        raise InvalidRequest(f"{field_name}: {exc}", {"field": field_name}) from None


class ImportStore(StoreBase):
    """The import methods of ChatStore."""

    def import_thread(
        self,
        user_id: str,
        *,
        thread_id: str,
        title: str | None,
        metadata: dict[str, Any] | None,
        created_at: datetime,
        updated_at: datetime | None = None,
    ) -> tuple[ThreadRecord, bool]:
        """Create the thread with its original times, or return the user's own thread of that id
        (created False, nothing changed); Conflict when the id belongs to another user."""
        check_id(thread_id, "id")
        values = {
            "id": thread_id,
            "user_id": user_id,
            "title": check_title(title),
            "metadata": _storable(check_metadata(metadata), "metadata"),
            "created_at": created_at,
            "updated_at": updated_at or created_at,
            "last_seq": 0,
        }
        statement = (
            self._insert(threads).values(**values).on_conflict_do_nothing(index_elements=["id"]).returning(*THREAD_COLUMNS)
        )
        with self.transaction(user_id):
            row = self._execute(statement).first()
            if row is not None:
                return ThreadRecord.from_row(row), True
            row = self._execute(sa.select(*THREAD_COLUMNS).where(owned_thread(user_id, thread_id))).first()
        if row is None:
            raise Conflict(f"A thread with id {thread_id} exists already.", {"field": "id"})
        return ThreadRecord.from_row(row), False

    def append_items(
        self,
        user_id: str,
        thread_id: str,
        new_items: Sequence[NewItem],
        *,
        updated_at: datetime | None = None,
        reserve_up_to: int = 0,
        leaf_id: str | None = None,
    ) -> AppendSummary:
        """Append the items in their order, in one unit of work (the caller's, or its own).

        The thread row is locked first, as a single append does, so concurrent appends queue.
        An id already in the thread is compared, not stored again: the same body counts as
        present, another body as a conflict (left as it is). A given `seq` must be above the
        thread's last one and increasing; otherwise the next seq is taken. The thread's
        `updated_at` becomes `updated_at` (default: now) when anything was appended, and its
        counter goes up to at least `reserve_up_to` (an imported thread keeps its last_seq).
        Items keep the tree (NewItem.parent_id); the thread's leaf becomes `leaf_id` (an item of
        the thread) or the last item appended.
        """
        rows = [self._checked(item, index) for index, item in enumerate(new_items)]
        summary = AppendSummary()
        with self.transaction(user_id):
            last_seq, previous = self._lock_thread(user_id, thread_id)
            stored = self._stored_bodies(user_id, thread_id, [row["id"] for row in rows]) if last_seq else {}
            seq, fresh, seen = last_seq, [], set()
            for index, row in enumerate(rows):
                if row["id"] in seen:
                    raise InvalidRequest(f"item {row['id']} appears twice", {"field": f"items.{index}.id"})
                seen.add(row["id"])
                body = stored.get(row["id"])
                if body is not None:
                    if body == (row["type"], row["role"], row["content"], row["metadata"]):
                        summary.present += 1
                    else:
                        summary.conflicts.append(row["id"])
                    previous = row["id"]  # what follows in the batch follows it
                    continue
                wanted = row.pop("seq")
                if wanted is not None and wanted <= seq:
                    raise InvalidRequest(
                        f"seq {wanted} of item {row['id']} does not follow seq {seq}", {"field": f"items.{index}.seq"}
                    )
                seq = wanted if wanted is not None else seq + 1
                parent = row.pop("parent_id")
                if parent is FOLLOWS_PREVIOUS:
                    parent = previous
                elif parent is not None and parent not in seen and not self._in_thread(thread_id, parent):
                    raise InvalidRequest(
                        f"item {row['id']} follows {parent}, which is neither earlier in the batch nor in the thread",
                        {"field": f"items.{index}.parent_id"},
                    )
                fresh.append(dict(row, thread_id=thread_id, seq=seq, parent_id=parent))
                previous = row["id"]
            for start in range(0, len(fresh), INSERT_BATCH):
                self._execute(items.insert(), fresh[start:start + INSERT_BATCH])
            if leaf_id is not None and leaf_id not in seen and not self._in_thread(thread_id, leaf_id):
                raise InvalidRequest(f"the leaf {leaf_id} is not an item of the thread", {"field": "thread.leaf_id"})
            if fresh or reserve_up_to > seq or leaf_id is not None:
                seq = max(seq, reserve_up_to)
                values: dict[str, Any] = {"last_seq": seq}
                if fresh:
                    values["updated_at"] = updated_at or utcnow()
                    values["leaf_id"] = fresh[-1]["id"]
                if leaf_id is not None:
                    values["leaf_id"] = leaf_id
                self._execute(threads.update().where(owned_thread(user_id, thread_id)).values(**values))
        summary.appended, summary.last_seq = len(fresh), seq
        return summary

    def _checked(self, item: NewItem, index: int) -> dict[str, Any]:
        try:
            check_id(item.id, "id")
            metadata = self.check_item(item.type, item.role, item.content, item.metadata)  # type: ignore[attr-defined]
        except InvalidRequest as exc:
            field_name = (exc.details or {}).get("field", "item")
            raise InvalidRequest(exc.message, {"field": f"items.{index}.{field_name}"}) from None
        if item.seq is not None and (not isinstance(item.seq, int) or item.seq < 1):
            raise InvalidRequest("seq must be a positive integer", {"field": f"items.{index}.seq"})
        return {
            "id": item.id,
            "type": item.type,
            "role": item.role,
            "content": _storable(item.content, f"items.{index}.content"),
            "metadata": _storable(metadata, f"items.{index}.metadata"),
            "created_at": item.created_at,
            "seq": item.seq,
            "parent_id": item.parent_id if item.parent_id is FOLLOWS_PREVIOUS or item.parent_id is None
            else check_id(item.parent_id, f"items.{index}.parent_id"),
        }

    def _lock_thread(self, user_id: str, thread_id: str) -> tuple[int, str | None]:
        """The thread's last seq and leaf, with its row locked until the unit ends (the owner check)."""
        if self._postgres:
            statement = sa.select(threads.c.last_seq, threads.c.leaf_id).where(owned_thread(user_id, thread_id)).with_for_update()
        else:  # a write takes SQLite's one write lock for the rest of the transaction
            statement = (
                threads.update()
                .where(owned_thread(user_id, thread_id))
                .values(last_seq=threads.c.last_seq)
                .returning(threads.c.last_seq, threads.c.leaf_id)
            )
        row = self._execute(statement).first()
        if row is None:
            raise NotFound("Thread not found.")
        return row.last_seq, row.leaf_id

    def _in_thread(self, thread_id: str, item_id: str) -> bool:
        found = sa.select(items.c.id).where(items.c.thread_id == thread_id, items.c.id == item_id)
        return self._execute(found).first() is not None

    def _stored_bodies(self, user_id: str, thread_id: str, ids: list[str]) -> dict[str, tuple]:
        """The (type, role, content, metadata) of those ids already in the user's thread."""
        found: dict[str, tuple] = {}
        owned = sa.select(threads.c.id).where(owned_thread(user_id, thread_id))
        for start in range(0, len(ids), INSERT_BATCH):
            rows = self._execute(
                sa.select(items.c.id, items.c.type, items.c.role, items.c.content, items.c.metadata).where(
                    items.c.thread_id.in_(owned), items.c.id.in_(ids[start:start + INSERT_BATCH])
                )
            ).all()
            found.update({row.id: (row.type, row.role, row.content, row.metadata or {}) for row in rows})
        return found

    def import_attachment(
        self,
        user_id: str,
        *,
        attachment_id: str,
        thread_id: str | None,
        filename: str,
        content_type: str,
        content: bytes,
        metadata: dict[str, Any] | None,
        created_at: datetime,
    ) -> tuple[AttachmentRecord, bool]:
        """Insert an attachment under a given id, or return the user's own one of that id
        (created False, left as it is); Conflict when the id belongs to another user."""
        if len(content) > self.max_attachment_bytes:
            raise PayloadTooLarge(
                f"Attachments are limited to {self.max_attachment_bytes} bytes.",
                {"field": "content", "limit": self.max_attachment_bytes},
            )
        check_id(attachment_id, "id")
        check_file_field(filename, "filename", MAX_FILENAME_CHARS)
        check_file_field(content_type, "content_type", MAX_CONTENT_TYPE_CHARS)
        values = {
            "id": attachment_id,
            "user_id": user_id,
            "thread_id": thread_id,
            "filename": filename,
            "content_type": content_type,
            "size": len(content),
            "content": content,
            "metadata": _storable(check_metadata(metadata), "metadata"),
            "created_at": created_at,
        }
        statement = (
            self._insert(attachments)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(*ATTACHMENT_COLUMNS)
        )
        with self.transaction(user_id):
            if thread_id is not None:
                self.get_thread(user_id, thread_id)  # type: ignore[attr-defined] - NotFound
            row = self._execute(statement).first()
            if row is not None:
                return AttachmentRecord.from_row(row), True
            row = self._execute(
                sa.select(*ATTACHMENT_COLUMNS).where(attachments.c.id == attachment_id, attachments.c.user_id == user_id)
            ).first()
        if row is None:
            raise Conflict(f"An attachment with id {attachment_id} exists already.", {"field": "id"})
        return AttachmentRecord.from_row(row), False

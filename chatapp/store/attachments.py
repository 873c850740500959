"""Attachments: upsert, read (metadata or bytes) and delete, scoped to their owner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..errors import Conflict, NotFound, PayloadTooLarge
from ..ids import new_attachment_id
from ..models import utcnow
from ..rules import MAX_CONTENT_TYPE_CHARS, MAX_FILENAME_CHARS, check_file_field, check_id, check_metadata, known_id
from .base import StoreBase
from .records import ATTACHMENT_COLUMNS, AttachmentRecord, attachments
from .transactions import on_primary, reads, run


def owned_attachment(user_id: str, attachment_id: str) -> sa.ColumnElement[bool]:
    known_id(attachment_id, "Attachment")
    return sa.and_(attachments.c.id == attachment_id, attachments.c.user_id == user_id)


class AttachmentStore(StoreBase):
    """The attachment methods of ChatStore."""

    def save_attachment(
        self,
        user_id: str,
        *,
        filename: str,
        content_type: str,
        content: bytes = b"",
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        attachment_id: str | None = None,
        created_at: datetime | None = None,
    ) -> AttachmentRecord:
        """Store an attachment (an upsert by id); a thread must be the user's own."""
        if len(content) > self.max_attachment_bytes:
            raise PayloadTooLarge(
                f"Attachments are limited to {self.max_attachment_bytes} bytes.",
                {"field": "file", "limit": self.max_attachment_bytes},
            )
        check_file_field(filename, "filename", MAX_FILENAME_CHARS)
        check_file_field(content_type, "content_type", MAX_CONTENT_TYPE_CHARS)
        attachment_id = check_id(attachment_id, "id") if attachment_id is not None else new_attachment_id()
        if thread_id is not None:
            with on_primary(self.session):  # the thread as the write will find it
                self.get_thread(user_id, thread_id)  # type: ignore[attr-defined] - ChatStore has it
        insert = self._insert(attachments)
        values = {
            "thread_id": thread_id,
            "filename": filename,
            "content_type": content_type,
            "size": len(content),
            "content": content,
            "metadata": check_metadata(metadata),
        }
        stmt = (
            insert.values(id=attachment_id, user_id=user_id, created_at=created_at or utcnow(), **values)
            .on_conflict_do_update(
                index_elements=["id"], set_=values, where=attachments.c.user_id == insert.excluded.user_id
            )
            .returning(*ATTACHMENT_COLUMNS)
        )
        row = run(self.session, lambda: self._execute(stmt).first(), write=True, retry=True, user_id=user_id)
        if row is None:
            raise Conflict(f"An attachment with id {attachment_id} exists already.", {"field": "id"})
        return AttachmentRecord.from_row(row)

    @reads
    def get_attachment(self, user_id: str, attachment_id: str) -> AttachmentRecord:
        statement = sa.select(*ATTACHMENT_COLUMNS).where(owned_attachment(user_id, attachment_id))
        return self._one(AttachmentRecord, statement, "Attachment")

    @reads
    def get_attachment_content(self, user_id: str, attachment_id: str) -> tuple[AttachmentRecord, bytes]:
        row = self._execute(
            sa.select(*ATTACHMENT_COLUMNS, attachments.c.content).where(owned_attachment(user_id, attachment_id))
        ).first()
        if row is None:
            raise NotFound("Attachment not found.")
        return AttachmentRecord.from_row(row), bytes(row.content or b"")

    @reads
    def list_thread_attachments(self, user_id: str, thread_id: str) -> list[AttachmentRecord]:
        """The metadata of the thread's attachments, oldest first (a thread holds few)."""
        statement = (
            sa.select(*ATTACHMENT_COLUMNS)
            .where(attachments.c.user_id == user_id, attachments.c.thread_id == thread_id)
            .order_by(attachments.c.created_at, attachments.c.id)
        )
        return [AttachmentRecord.from_row(row) for row in self._execute(statement).all()]

    @reads
    def read_attachments(
        self, user_id: str, attachment_ids: Sequence[str], *, max_bytes: int | None = None
    ) -> list[tuple[AttachmentRecord, bytes]]:
        """The user's attachments among `attachment_ids`, in that order, each with its bytes (only
        the first `max_bytes` when given); unknown ids and other users' are left out. One statement."""
        wanted = list(dict.fromkeys(attachment_id for attachment_id in attachment_ids if isinstance(attachment_id, str)))
        if not wanted:
            return []
        content: Any = attachments.c.content
        if max_bytes is not None:
            content = sa.func.substr(attachments.c.content, 1, max_bytes, type_=sa.LargeBinary)
        rows = self._execute(
            sa.select(*ATTACHMENT_COLUMNS, content.label("content"))
            .where(attachments.c.user_id == user_id, attachments.c.id.in_(wanted))
        ).all()
        found = {row.id: (AttachmentRecord.from_row(row), bytes(row.content or b"")) for row in rows}
        return [found[attachment_id] for attachment_id in wanted if attachment_id in found]

    def delete_attachment(self, user_id: str, attachment_id: str) -> None:
        self._delete(user_id, attachments.delete().where(owned_attachment(user_id, attachment_id)), "Attachment")

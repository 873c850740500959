"""Plain records the store returns (threads, items, attachments, pages) and their row mappers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Optional, TypeVar

import sqlalchemy as sa

from .models import Attachment, Thread, ThreadItem

threads = Thread.__table__
items = ThreadItem.__table__
attachments = Attachment.__table__

T = TypeVar("T")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(slots=True)
class Page(Generic[T]):
    """One keyset page: `after` is the cursor for the next page, None on the last."""

    data: list[T]
    has_more: bool
    after: Optional[str]


@dataclass(slots=True)
class ThreadRecord:
    id: str
    title: Optional[str]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    item_count: int = 0  # items ever appended (the last seq), not the current count

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "metadata": self.metadata,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(slots=True)
class ItemRecord:
    id: str
    thread_id: str
    seq: int
    type: str
    role: Optional[str]
    content: Any
    metadata: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "thread_id": self.thread_id,
            "seq": self.seq,
            "type": self.type,
            "role": self.role,
            "content": self.content,
            "metadata": self.metadata,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(slots=True)
class AttachmentRecord:
    id: str
    thread_id: Optional[str]
    filename: str
    content_type: str
    size: int
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: Optional[datetime] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "thread_id": self.thread_id,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "metadata": self.metadata,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


THREAD_COLUMNS = (
    threads.c.id,
    threads.c.title,
    threads.c["metadata"],
    threads.c.created_at,
    threads.c.updated_at,
    threads.c.last_seq,
)
ITEM_COLUMNS = (
    items.c.id,
    items.c.thread_id,
    items.c.seq,
    items.c.type,
    items.c.role,
    items.c.content,
    items.c["metadata"],
    items.c.created_at,
)
ATTACHMENT_COLUMNS = (
    attachments.c.id,
    attachments.c.thread_id,
    attachments.c.filename,
    attachments.c.content_type,
    attachments.c.size,
    attachments.c["metadata"],
    attachments.c.created_at,
)


def thread_from_row(row: sa.Row) -> ThreadRecord:
    return ThreadRecord(row[0], row[1], row[2] or {}, row[3], row[4], row[5])


def item_from_row(row: sa.Row) -> ItemRecord:
    return ItemRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6] or {}, row[7])


def attachment_from_row(row: sa.Row) -> AttachmentRecord:
    return AttachmentRecord(row[0], row[1], row[2], row[3], row[4], row[5] or {}, row[6])

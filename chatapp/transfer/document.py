"""The thread document: what an export writes and an import accepts, defined once.

`{"format": "chatapp.thread", "version": 1, "thread": {...}, "items": [...], "attachments": [...]}`:
the thread's fields are ThreadRecord's, an item's are ItemRecord's but `thread_id`, an
attachment's are AttachmentRecord's but `thread_id`, plus `content_base64` when the export was
asked for the bytes. The pydantic models below validate an import with the rules of
chatapp/rules.py and document both directions in the OpenAPI document.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ..errors import InvalidRequest
from ..rules import (
    MAX_CONTENT_TYPE_CHARS,
    MAX_FILENAME_CHARS,
    MAX_JSON_INTEGER,
    Id,
    ItemType,
    JsonValue,
    Metadata,
    Role,
    Title,
)
from ..store.records import AttachmentRecord, ItemRecord, Record, ThreadRecord

FORMAT = "chatapp.thread"
VERSION = 1
THREAD_FIELDS = ThreadRecord.field_names()
ITEM_FIELDS = tuple(name for name in ItemRecord.field_names() if name != "thread_id")
ATTACHMENT_FIELDS = tuple(name for name in AttachmentRecord.field_names() if name != "thread_id")


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


Time = Annotated[AwareDatetime, AfterValidator(_utc), Field(description="ISO 8601 with a time zone.")]


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    return value


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ThreadPart(_Part):
    id: Id
    title: Title | None = None
    metadata: Metadata | None = None
    created_at: Time
    updated_at: Time | None = None
    last_seq: Annotated[int, Field(ge=0, le=MAX_JSON_INTEGER)] = 0
    leaf_id: Id | None = Field(
        None, description="The last item of the branch the thread shows; absent or null: its last item."
    )


class ItemPart(_Part):
    id: Id
    seq: Annotated[int, Field(ge=1, le=MAX_JSON_INTEGER, description="Kept on import; must increase.")] | None = None
    type: ItemType = "message"
    role: Role | None = None
    content: Annotated[JsonValue, Field(description="A string for messages; any JSON value for other types.")]
    metadata: Metadata | None = None
    created_at: Time
    parent_id: Id | None = Field(
        None,
        description="The item this one follows (an earlier item of the document); null: a first item. "
        "Absent (older documents): the item before it.",
    )


class AttachmentPart(_Part):
    id: Id
    filename: Annotated[str, Field(min_length=1, max_length=MAX_FILENAME_CHARS)]
    content_type: Annotated[str, Field(min_length=1, max_length=MAX_CONTENT_TYPE_CHARS)]
    size: Annotated[int, Field(ge=0, le=MAX_JSON_INTEGER)]
    metadata: Metadata | None = None
    created_at: Time | None = None
    content_base64: Annotated[str, AfterValidator(_base64)] | None = Field(
        None, description="The bytes, in exports made with include=attachments; imports need them."
    )

    def content(self) -> bytes | None:
        return None if self.content_base64 is None else base64.b64decode(self.content_base64)


class ThreadDocument(_Part):
    """One thread with all its items in order, and its attachments."""

    format: Literal["chatapp.thread"]
    version: Literal[1]
    thread: ThreadPart
    items: list[ItemPart] = []
    attachments: list[AttachmentPart] = []


def parse_document(raw: bytes) -> ThreadDocument:
    """A thread document from JSON bytes (an uploaded file); InvalidRequest naming the first bad field."""
    try:
        return ThreadDocument.model_validate_json(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or "document"
        raise InvalidRequest(f"{field}: {error['msg']}", {"field": field}) from None


@dataclass(slots=True)
class ImportResult(Record):
    thread: ThreadRecord
    items: Annotated[int, Field(ge=0, description="Items imported.")]
    attachments: Annotated[int, Field(ge=0, description="Attachments imported (with their bytes).")]
    attachments_without_content: Annotated[
        list[str], Field(description="Ids of the document's attachments that came without content_base64: not imported.")
    ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "thread": self.thread.to_dict(),
            "items": self.items,
            "attachments": self.attachments,
            "attachments_without_content": self.attachments_without_content,
        }

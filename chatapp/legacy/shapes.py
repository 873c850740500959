"""The legacy schemas of the seed notes, recognized by their columns, and how their rows map.

| shape | seeds | tables | owner |
|---|---|---|---|
| chatkit_thread | 000, 001 | chatkit_thread, chatkit_thread_item, chatkit_attachment | "userId" |
| threads | 002 | threads, thread_items (or legacy_threads, legacy_thread_items) | --owner |
| chatkit_threads | 003 | chatkit_threads, chatkit_thread_items, chatkit_attachments | user_id |
| chat_sessions | 004 | chat_sessions, chat_messages | --owner |

A table counts only when it has the shape's columns (and none that mark chatapp's own tables),
so chatapp's `threads` is never taken for seed 002's. Items keep their legacy order (seed 003's
sort_key, seed 004's id, the others' created_at), ties broken by id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..integrations.chatkit_items import CHATKIT_KEY, clip, stored_fields
from ..rules import ROLES, TYPE_PATTERN
from ..store import NewItem
from .values import BadValue, chatapp_id, json_object, json_value, text, timestamp, title_from

USER_TYPES = {"user", "user_message", "usermessageitem"}
ASSISTANT_TYPES = {"assistant", "assistant_message", "assistantmessageitem", "message"}
FALLBACK_TYPE = "legacy_item"


@dataclass
class LegacyThread:
    key: Any  # what the items' thread column holds
    legacy_id: str
    thread_id: str
    external_user: str | None  # None: the --owner's
    title: str | None
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None


@dataclass
class LegacyAttachment:
    legacy_id: str
    attachment_id: str
    thread_key: Any
    filename: str
    content_type: str
    metadata: dict[str, Any]
    created_at: datetime | None


@dataclass
class Mapped:
    """An item as chatapp keeps it; `clipped` when its text was longer than a message may be."""

    item: NewItem
    clipped: bool = False


# What a row maps to before its id and time are added: type, role, content, metadata.
Fields = dict[str, Any]


@dataclass(frozen=True)
class Table:
    names: tuple[str, ...]  # where to look, in this order
    columns: frozenset[str]  # required
    optional: frozenset[str] = frozenset()
    forbidden: frozenset[str] = frozenset()  # columns that mean another schema

    def matches(self, columns: set[str]) -> bool:
        return self.columns <= columns and not (self.forbidden & columns)


@dataclass(frozen=True)
class Shape:
    key: str
    seeds: str
    threads: Table
    items: Table
    attachments: Table | None
    thread_key: str  # the threads column the items refer to
    item_thread: str  # the items column holding it
    item_order: tuple[str, ...]  # before the id
    owner: str | None  # the threads column with the external user id
    read_thread: Callable[[dict[str, Any], Shape, str], LegacyThread]
    read_item: Callable[[dict[str, Any], str, int], Mapped]
    read_attachment: Callable[[dict[str, Any], str], LegacyAttachment] | None = None
    paired_names: bool = True  # threads.names[i] goes with items.names[i]
    extra: dict[str, Any] = field(default_factory=dict)


def _owner(row: dict[str, Any], column: str | None) -> str | None:
    if column is None:
        return None
    value = text(row.get(column), column)
    return value if value and value.strip() else None


def _thread(row: dict[str, Any], shape: Shape, table: str, metadata: dict[str, Any], title: str | None) -> LegacyThread:
    key = row[shape.thread_key]
    return LegacyThread(
        key=key,
        legacy_id=str(key),
        thread_id=chatapp_id(key, table),
        external_user=_owner(row, shape.owner),
        title=title,
        metadata=metadata,
        created_at=timestamp(row.get("createdAt", row.get("created_at")), "created_at"),
        updated_at=timestamp(
            row.get("updatedAt", row.get("updated_at", row.get("last_activity"))), "updated_at"
        ),
    )


def _metadata_thread(row: dict[str, Any], shape: Shape, table: str) -> LegacyThread:
    metadata = json_object(row.get("metadata"), "metadata")
    return _thread(row, shape, table, metadata, title_from(metadata))


def _chatkit_plural_thread(row: dict[str, Any], shape: Shape, table: str) -> LegacyThread:
    metadata = json_object(row.get("metadata_json"), "metadata_json")
    title = text(row.get("title"), "title")
    return _thread(row, shape, table, metadata, title_from({"title": title}) if title else title_from(metadata))


def _is_chatkit(value: Any) -> bool:
    """ChatKit item JSON: an object with its id and a lowercase type name."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("type"), str)
        and bool(TYPE_PATTERN.match(value["type"]))
        and "id" in value
    )


def _message(role: str, content: str, metadata: dict[str, Any], limit: int) -> Fields:
    fields: Fields = {"type": "message", "role": role, "content": content, "metadata": metadata}
    if len(content) > limit:  # clipped to the message limit, the whole text kept beside it
        fields["metadata"] = {**metadata, "legacy": {**metadata.get("legacy", {}), "content": content}}
        fields.update(content=clip(content, limit), clipped=True)
    return fields


def _typed(legacy_type: str | None, role: str | None, content: Any, limit: int) -> Fields:
    """A legacy item with a type column and free content (seeds 000/001 and 002)."""
    if _is_chatkit(content):
        return stored_fields(content, limit)
    kind = (legacy_type or "").strip().lower()
    if role not in ROLES:
        role = "user" if kind in USER_TYPES else "assistant" if kind in ASSISTANT_TYPES else None
    words = content
    if isinstance(content, dict):
        words = content.get("content")
        if isinstance(words, list):
            words = "".join(part["text"] for part in words if isinstance(part, dict) and isinstance(part.get("text"), str))
    is_message = kind in USER_TYPES | ASSISTANT_TYPES or not kind
    if is_message and isinstance(words, str) and words.strip():
        if role is None:
            raise BadValue("neither its role nor its type says who wrote it")
        return _message(role, words, {} if isinstance(content, str) else {"legacy": {"content": content}}, limit)
    if content is None:
        raise BadValue("it has no content")
    stored_type = kind if TYPE_PATTERN.match(kind) and not is_message else FALLBACK_TYPE
    return {"type": stored_type, "role": role, "content": content, "metadata": {}}


def _done(fields: Fields, row: dict[str, Any], item_id: str, created_at_column: str) -> Mapped:
    """The item, with its id and time (None, for a NULL, until the importer fills it in)."""
    created_at = timestamp(row.get(created_at_column), created_at_column)
    clipped = fields.pop("clipped", False)
    return Mapped(NewItem(id=item_id, created_at=created_at, **fields), clipped)  # type: ignore[arg-type]


def _chatkit_singular_item(row: dict[str, Any], table: str, limit: int) -> Mapped:
    content = json_value(row.get("content"), "content")
    fields = _typed(text(row.get("type"), "type"), None, content, limit)
    return _done(fields, row, chatapp_id(row["id"], table), "createdAt")


def _seed_002_item(row: dict[str, Any], table: str, limit: int) -> Mapped:
    raw = text(row.get("content"), "content")
    content: Any = raw
    if raw is not None and raw.lstrip().startswith("{"):
        try:
            parsed = json_value(raw, "content")
        except BadValue:
            parsed = None  # text that merely starts with a brace
        if _is_chatkit(parsed):
            content = parsed
    role = text(row.get("role"), "role")
    fields = _typed(text(row.get("type"), "type"), role.strip().lower() if role else None, content, limit)
    return _done(fields, row, chatapp_id(row["id"], table), "created_at")


def _chatkit_plural_item(row: dict[str, Any], table: str, limit: int) -> Mapped:
    data = json_value(row.get("item_json"), "item_json")
    if data is None:
        raise BadValue("item_json is empty")
    fields = stored_fields(data, limit) if _is_chatkit(data) else {"type": FALLBACK_TYPE, "content": data}
    return _done(fields, row, chatapp_id(row["id"], table), "created_at")


def _session_message(row: dict[str, Any], table: str, limit: int) -> Mapped:
    role = (text(row.get("role"), "role") or "").strip().lower()
    if role not in ROLES:
        raise BadValue(f"role {row.get('role')!r} is not one of {', '.join(ROLES)}")
    content = text(row.get("content"), "content")
    if content is None or not content.strip():
        raise BadValue("content is empty")
    # Where chatapp's own assistant replies keep them (chatapp/assistant/metadata.py).
    metadata: dict[str, Any] = {}
    sources = json_value(row.get("sources"), "sources")
    if sources not in (None, []):
        metadata["sources"] = sources
    if row.get("confidence") is not None:
        metadata["confidence"] = json_value(float(row["confidence"]), "confidence")
    if row.get("tokens_used") is not None:
        metadata["usage"] = {"total_tokens": int(row["tokens_used"])}
    return _done(_message(role, content, metadata, limit), row, f"msg_{row['id']}", "created_at")


def _chatkit_singular_attachment(row: dict[str, Any], table: str) -> LegacyAttachment:
    content = json_value(row.get("content"), "content")
    saved = content.get("data") if isinstance(content, dict) and isinstance(content.get("data"), dict) else content
    chatkit = isinstance(saved, dict) and isinstance(saved.get("name"), str) and isinstance(saved.get("mime_type"), str)
    return LegacyAttachment(
        legacy_id=str(row["id"]),
        attachment_id=chatapp_id(row["id"], table),
        thread_key=row.get("threadId"),
        filename=(saved["name"] if chatkit else "attachment")[:255] or "attachment",
        content_type=(saved["mime_type"] if chatkit else "application/octet-stream")[:255] or "application/octet-stream",
        metadata={CHATKIT_KEY: saved} if chatkit else {"legacy": content},
        created_at=timestamp(row.get("createdAt"), "createdAt"),
    )


def _chatkit_plural_attachment(row: dict[str, Any], table: str) -> LegacyAttachment:
    return LegacyAttachment(
        legacy_id=str(row["id"]),
        attachment_id=chatapp_id(row["id"], table),
        thread_key=row.get("thread_id"),
        filename=((text(row.get("filename"), "filename") or "attachment").strip() or "attachment")[:255],
        content_type=((text(row.get("content_type"), "content_type") or "").strip() or "application/octet-stream")[:255],
        metadata=json_object(row.get("metadata_json"), "metadata_json"),
        created_at=timestamp(row.get("created_at"), "created_at"),
    )


SHAPES = (
    Shape(
        key="chatkit_thread",
        seeds="000/001",
        threads=Table(("chatkit_thread",), frozenset({"id", "userId", "metadata", "createdAt"}), frozenset({"updatedAt"})),
        items=Table(("chatkit_thread_item",), frozenset({"id", "threadId", "type", "content", "createdAt"})),
        attachments=Table(("chatkit_attachment",), frozenset({"id", "threadId", "content", "createdAt"})),
        thread_key="id",
        item_thread="threadId",
        item_order=("createdAt",),
        owner="userId",
        read_thread=_metadata_thread,
        read_item=_chatkit_singular_item,
        read_attachment=_chatkit_singular_attachment,
    ),
    Shape(
        key="threads",
        seeds="002",
        threads=Table(
            ("threads", "legacy_threads"), frozenset({"id", "created_at", "metadata"}), forbidden=frozenset({"user_id", "last_seq"})
        ),
        items=Table(
            ("thread_items", "legacy_thread_items"),
            frozenset({"id", "thread_id", "type", "role", "content", "created_at"}),
            forbidden=frozenset({"seq"}),
        ),
        attachments=None,
        thread_key="id",
        item_thread="thread_id",
        item_order=("created_at",),
        owner=None,
        read_thread=_metadata_thread,
        read_item=_seed_002_item,
    ),
    Shape(
        key="chatkit_threads",
        seeds="003",
        threads=Table(
            ("chatkit_threads",), frozenset({"id", "user_id", "title", "metadata_json", "created_at"}), frozenset({"updated_at"})
        ),
        items=Table(("chatkit_thread_items",), frozenset({"id", "thread_id", "item_json", "sort_key", "created_at"})),
        attachments=Table(
            ("chatkit_attachments",),
            frozenset({"id", "thread_id", "filename", "content_type", "metadata_json", "created_at"}),
            frozenset({"size_bytes"}),
        ),
        thread_key="id",
        item_thread="thread_id",
        item_order=("sort_key",),
        owner="user_id",
        read_thread=_chatkit_plural_thread,
        read_item=_chatkit_plural_item,
        read_attachment=_chatkit_plural_attachment,
    ),
    Shape(
        key="chat_sessions",
        seeds="004",
        threads=Table(("chat_sessions",), frozenset({"session_id", "created_at", "metadata"}), frozenset({"last_activity"})),
        items=Table(
            ("chat_messages",),
            frozenset({"id", "session_id", "role", "content", "created_at"}),
            frozenset({"sources", "confidence", "tokens_used"}),
        ),
        attachments=None,
        thread_key="session_id",
        item_thread="session_id",
        item_order=(),
        owner=None,
        read_thread=_metadata_thread,
        read_item=_session_message,
    ),
)

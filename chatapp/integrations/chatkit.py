"""ChatKitStore: chatapp's store as the persistence layer of an OpenAI ChatKit server.

`ChatKitStore(app)` implements every method of `chatkit.store.Store` on top of ChatStore, so a
ChatKit server's threads live in chatapp's tables and show in its UI and API. Each call runs in a
worker thread, inside `app.app_context()` with a session of its own, so the event loop never
blocks and concurrent requests never share a session. Needs the optional `openai-chatkit`
package (requirements-chatkit.txt); nothing else in chatapp imports this module.

Mapping (see docs/CHATKIT.md):
- the host application's user id (from the request context) -> a chatapp user provisioned
  with that `external_id`; every call is scoped to it;
- ThreadMetadata -> a thread with the SDK's id, title and created_at; its full JSON is kept in
  the thread's metadata under "chatkit", so status and metadata come back exactly;
- user and assistant messages with text -> ordinary chatapp messages (role, plain text) with
  the ChatKit item's JSON in metadata["chatkit"]; every other item (and a message without text,
  such as an assistant message that has just started streaming) -> an item whose type is the
  ChatKit type name and whose content is the item's JSON;
- attachments -> chatapp attachments (no bytes: those stay in the host's AttachmentStore) with
  the ChatKit JSON in metadata["chatkit"].
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import Conflict, InvalidRequest, NotFound
from ..extensions import db
from ..rules import MAX_FILENAME_CHARS, MAX_PAGE, MAX_TITLE_CHARS
from ..services import account_store, chat_store
from ..store import AttachmentRecord, ChatStore, ItemRecord, ThreadRecord
from .chatkit_items import CHATKIT_KEY, stored_fields

try:
    from chatkit import widgets as chatkit_widgets
    from chatkit.store import NotFoundError, Store
    from chatkit.types import (
        AssistantMessageContent,
        AssistantMessageItem,
        Attachment,
        FileAttachment,
        InferenceOptions,
        Page,
        ThreadItem,
        ThreadMetadata,
        UserMessageItem,
        UserMessageTextContent,
    )
    from chatkit.widgets import DynamicWidgetComponent
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "chatapp.integrations.chatkit needs the optional openai-chatkit package: "
        "pip install -r requirements-chatkit.txt"
    ) from exc

log = logging.getLogger("chatapp.chatkit")

DYNAMIC_KEY = "chatkit_dynamic_widgets"  # where template-built widgets sit in an item

_items = TypeAdapter(ThreadItem)
_attachments = TypeAdapter(Attachment)
_THREAD_FIELDS = set(ThreadMetadata.model_fields)

T = TypeVar("T")


class ChatKitNotFound(NotFoundError, NotFound):
    """The SDK's NotFoundError that chatapp's error handlers also answer as a 404."""


class MissingUserId(InvalidRequest, ValueError):
    """The ChatKit request context carries no user id, so nothing can be scoped to a user."""


def user_id_from(context: Any) -> str:
    """The host application's user id: `context.user_id`, `context["user_id"]` or
    `context["user"]["id"]`; a MissingUserId error when there is none."""
    if isinstance(context, Mapping):
        value = context.get("user_id")
        user = context.get("user")
        if value is None and isinstance(user, Mapping):
            value = user.get("id")
    else:
        value = getattr(context, "user_id", None)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise MissingUserId(
            "The ChatKit request context has no user id: pass an object with `user_id`, "
            "a dict with \"user_id\", or {\"user\": {\"id\": ...}}.",
            {"field": "context.user_id"},
        )
    return value


def aware(value: datetime) -> datetime:
    """The SDK stamps items with naive `datetime.now()` (local time); the columns want UTC."""
    return value.astimezone(UTC)


def column_title(title: str | None) -> str | None:
    """What the title column holds for a ChatKit title (stripped, at most 200 characters)."""
    if title is None:
        return None
    return title.strip()[:MAX_TITLE_CHARS].strip() or None


def plain_text(item: UserMessageItem | AssistantMessageItem) -> str:
    """A message's text as chatapp shows it: user parts are inline, assistant parts blocks."""
    if isinstance(item, UserMessageItem):
        return "".join(part.text for part in item.content)
    return "\n\n".join(part.text for part in item.content)


# -- ChatKit objects <-> chatapp records -------------------------------------------------


def thread_json(thread: ThreadMetadata) -> dict[str, Any]:
    # Only ThreadMetadata's fields: the server sometimes passes a whole Thread with its items.
    return thread.model_dump(mode="json", include=_THREAD_FIELDS)


def thread_from_record(record: ThreadRecord) -> ThreadMetadata:
    """The saved ThreadMetadata; the title column wins when chatapp renamed the thread."""
    saved = record.metadata.get(CHATKIT_KEY)
    if not isinstance(saved, dict):  # a thread made in chatapp itself
        return ThreadMetadata(
            id=record.id, title=record.title, created_at=record.created_at, metadata=record.metadata
        )
    thread = ThreadMetadata.model_validate(saved)
    if column_title(thread.title) != record.title:
        thread.title = record.title
    return thread


def dynamic_widgets(value: Any, path: tuple = ()) -> list[list[Any]]:
    """Where a model holds template-built widgets, as [*path, class name] lists.

    `WidgetTemplate.build` returns DynamicWidgetRoot objects, whose JSON alone loads back as
    the strict classes (Card, Text...), dropping their extra fields; these marks let
    `restore_dynamic_widgets` rebuild them exactly.
    """
    if isinstance(value, DynamicWidgetComponent):
        return [[*path, type(value).__name__]]  # its children are dynamic by type
    if isinstance(value, BaseModel):  # __dict__, not getattr: no deprecated-field warnings
        return [m for name, field in value.__dict__.items() for m in dynamic_widgets(field, (*path, name))]
    if isinstance(value, list):
        return [m for index, element in enumerate(value) for m in dynamic_widgets(element, (*path, index))]
    return []


def restore_dynamic_widgets(item: BaseModel, data: dict[str, Any], marks: list[list[Any]]) -> None:
    for *path, class_name in marks:
        cls = getattr(chatkit_widgets, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, DynamicWidgetComponent)) or not path:
            raise ValueError(f"not a dynamic widget class: {class_name!r}")
        parent: Any = item
        source: Any = data
        for key in path[:-1]:
            parent = parent[key] if isinstance(key, int) else getattr(parent, key)
            source = source[key]
        rebuilt = cls.model_validate(source[path[-1]])
        if isinstance(path[-1], int):
            parent[path[-1]] = rebuilt
        else:
            setattr(parent, path[-1], rebuilt)


def item_fields(item: ThreadItem, max_message_chars: int) -> dict[str, Any]:
    """The chatapp item (type, role, content, metadata) that stores this ChatKit item
    (chatkit_items.stored_fields), with the marks of any template-built widgets."""
    fields = stored_fields(item.model_dump(mode="json"), max_message_chars)
    if fields["type"] != "message":
        marks = dynamic_widgets(item)
        if marks:
            fields["metadata"] = {DYNAMIC_KEY: marks}
    return fields


def item_from_record(record: ItemRecord) -> ThreadItem | None:
    """The ChatKit item a chatapp item holds, or None when ChatKit has no form for it."""
    saved = record.metadata.get(CHATKIT_KEY)
    if not isinstance(saved, dict) and isinstance(record.content, dict):
        if record.content.get("type") == record.type:
            saved = record.content
    if isinstance(saved, dict):
        try:
            item = _items.validate_python(saved)
            restore_dynamic_widgets(item, saved, record.metadata.get(DYNAMIC_KEY) or [])
            return item
        except (ValidationError, ValueError, LookupError, TypeError):
            log.warning("item %s of thread %s holds invalid ChatKit JSON", record.id, record.thread_id)
            return None
    # A message written through chatapp's UI or API: show it to ChatKit as plain text.
    if record.type == "message" and isinstance(record.content, str):
        common = {"id": record.id, "thread_id": record.thread_id, "created_at": record.created_at}
        if record.role == "user":
            return UserMessageItem(
                **common,
                content=[UserMessageTextContent(text=record.content)],
                inference_options=InferenceOptions(),
            )
        if record.role == "assistant":
            return AssistantMessageItem(
                **common, content=[AssistantMessageContent(text=record.content)]
            )
    return None


def attachment_from_record(record: AttachmentRecord) -> Attachment:
    saved = record.metadata.get(CHATKIT_KEY)
    if isinstance(saved, dict):
        return _attachments.validate_python(saved)
    return FileAttachment(  # uploaded through chatapp itself
        id=record.id, name=record.filename, mime_type=record.content_type, thread_id=record.thread_id
    )


class ChatKitStore(Store[Any]):
    """A `chatkit.store.Store` over chatapp's database; construct it with a chatapp Flask app.

    Ids come from the SDK's `generate_thread_id` / `generate_item_id` (override them in a
    subclass to choose your own; chatapp accepts up to 64 letters, digits, '_', '-', '.', ':').
    """

    def __init__(self, app: Flask):
        self.app = app

    async def _call(self, context: Any, work: Callable[[ChatStore, str], T]) -> T:
        """Run `work(store, chatapp_user_id)` in a worker thread with its own app context."""
        external_id = user_id_from(context)
        return await asyncio.to_thread(self._in_app_context, external_id, work)

    def _in_app_context(self, external_id: str, work: Callable[[ChatStore, str], T]) -> T:
        with self.app.app_context():
            try:
                user_id = account_store().ensure_external_user(external_id)
                return work(chat_store(), user_id)
            except NotFound as exc:
                raise ChatKitNotFound(exc.message, exc.details) from exc
            finally:
                db.session.remove()

    @staticmethod
    def _cursor_not_found(exc: InvalidRequest, after: str | None) -> Exception:
        """An unknown `after` is NotFoundError for the SDK; other invalid input stays as is."""
        if isinstance(exc.details, dict) and exc.details.get("field") == "after":
            return ChatKitNotFound(f"No item or thread {after!r} to page after.", exc.details)
        return exc

    # -- threads -------------------------------------------------------------------------

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        record = await self._call(context, lambda store, user: store.get_thread(user, thread_id))
        return thread_from_record(record)

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        def work(store: ChatStore, user: str) -> None:
            store.save_thread(
                user,
                thread.id,
                title=column_title(thread.title),
                metadata={CHATKIT_KEY: thread_json(thread)},
                created_at=aware(thread.created_at),
            )

        await self._call(context, work)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> Page[ThreadMetadata]:
        def work(store: ChatStore, user: str):
            try:
                return store.list_threads(
                    # The SDK may ask for more than a page holds: a shorter page with has_more.
                    user, limit=min(limit, MAX_PAGE), after=after, order=order, sort="created_at"  # type: ignore[arg-type]
                )
            except InvalidRequest as exc:
                raise self._cursor_not_found(exc, after) from exc

        page = await self._call(context, work)
        return Page(
            data=[thread_from_record(r) for r in page.data],
            has_more=page.has_more,
            after=page.after if page.has_more else None,
        )

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        await self._call(context, lambda store, user: store.delete_thread(user, thread_id))

    # -- items ---------------------------------------------------------------------------

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        """A page of the thread's items; a thread the context's user cannot see (another user's,
        or none) is an empty page, as the SDK's reference store answers (load_thread and load_item
        raise NotFoundError)."""

        def work(store: ChatStore, user: str):
            try:
                return store.list_items(user, thread_id, limit=min(limit, MAX_PAGE), after=after, order=order)  # type: ignore[arg-type]
            except InvalidRequest as exc:
                raise self._cursor_not_found(exc, after) from exc
            except NotFound:  # the thread is not this user's (the cursor is checked after it)
                return None

        page = await self._call(context, work)
        if page is None:
            return Page(data=[], has_more=False, after=None)
        items = [item for item in map(item_from_record, page.data) if item is not None]
        return Page(data=items, has_more=page.has_more, after=page.after if page.has_more else None)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        def work(store: ChatStore, user: str) -> None:
            fields = item_fields(item, store.max_message_chars)
            created_at = aware(item.created_at)
            try:
                store.add_item(
                    user, thread_id, item_id=item.id, created_at=created_at, auto_title=False, **fields
                )
            except Conflict:  # the id is stored already with another body: overwrite it
                store.save_item(user, thread_id, item.id, created_at=created_at, **fields)

        await self._call(context, work)

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        def work(store: ChatStore, user: str) -> None:
            store.save_item(
                user,
                thread_id,
                item.id,
                created_at=aware(item.created_at),
                **item_fields(item, store.max_message_chars),
            )

        await self._call(context, work)

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        record = await self._call(
            context, lambda store, user: store.get_item(user, thread_id, item_id)
        )
        item = item_from_record(record)
        if item is None:
            raise ChatKitNotFound(f"Item {item_id} has no ChatKit form.")
        return item

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        await self._call(context, lambda store, user: store.delete_item(user, thread_id, item_id))

    # -- attachments ---------------------------------------------------------------------

    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        def work(store: ChatStore, user: str) -> None:
            store.save_attachment(
                user,
                attachment_id=attachment.id,
                filename=(attachment.name or "attachment")[:MAX_FILENAME_CHARS],
                content_type=attachment.mime_type or "application/octet-stream",
                thread_id=attachment.thread_id,
                metadata={CHATKIT_KEY: attachment.model_dump(mode="json")},
            )

        await self._call(context, work)

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        record = await self._call(
            context, lambda store, user: store.get_attachment(user, attachment_id)
        )
        return attachment_from_record(record)

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        await self._call(
            context, lambda store, user: store.delete_attachment(user, attachment_id)
        )

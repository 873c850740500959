"""The reply service: store the user's message, stream the assistant's reply, store the reply.

The order matters: the user's message is committed first, the database session is released
before the backend is asked (no transaction or pooled connection waits on the network), and
the reply is stored afterwards in a transaction of its own. Whatever happens to the stream
(done, backend failure, client gone), exactly one assistant item is stored for it.

The context is the branch that leads to the question (its ancestors), not every item of the
thread. A reply follows its question (`parent_id`), so a second reply to one question is another
version of the first (regenerate). A new reply replaces the question's earlier replies that are
only notices (a failure, or an interruption before any text) and that nothing follows: retrying
after a failure leaves one reply, not a pile of failures.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..config import AssistantSettings
from ..errors import ChatError, InvalidRequest, NotFound, UpstreamError, UpstreamTimeout
from ..rules import MAX_PAGE, attachment_ids
from ..store import UNSET, ChatStore, ItemRecord
from .attachments import with_attachments
from .base import Assistant, Completion, Conversation, Delta, ThreadStats
from .context import build_messages, select_window
from .metadata import Status, reply_metadata

log = logging.getLogger("chatapp")

INTERRUPTED_NOTICE = "(The reply was interrupted before any text arrived.)"
HISTORY_PAGE = 50

Event = tuple[str, dict[str, Any]]


class ReplyFailed(ChatError):
    """A reply that failed after its user message was stored: the backend's error (its code and
    status: 502 or 504), with the user item and the assistant item stored for the failure.

    The API answers it with both items in the error's details; the UI shows `assistant_item`.
    """

    def __init__(self, cause: ChatError, user_item: ItemRecord, assistant_item: ItemRecord):
        super().__init__(
            cause.message,
            {**(cause.details or {}), "user": user_item.to_dict(), "assistant": assistant_item.to_dict()},
        )
        self.code, self.status = cause.code, cause.status
        self.cause = cause
        self.user_item = user_item
        self.assistant_item = assistant_item


class ReplyRecorder:
    """Stores the assistant's items of one reply to one user message: the reply, or what a
    failure or a disconnect left of it, with the metadata (model, latency, status...)."""

    def __init__(
        self,
        store: ChatStore,
        assistant: Assistant,
        user_id: str,
        user_item: ItemRecord,
        release_connection: Callable[[], None],
        replaces: tuple[str, ...] = (),
    ):
        self.store = store
        self.assistant = assistant
        self.user_id = user_id
        self.user_item = user_item
        self.release_connection = release_connection
        self.replaces = replaces  # notices in place of a reply, deleted when this reply is stored
        self.started = time.monotonic()

    def record(
        self,
        content: str,
        status: Status,
        *,
        completion: Completion | None = None,
        error: ChatError | None = None,
        placeholder: bool = False,
    ) -> ItemRecord:
        limit = self.store.max_message_chars
        metadata = reply_metadata(
            status=status,
            latency_ms=round((time.monotonic() - self.started) * 1000),
            model=self.assistant.model,
            completion=completion,
            error=error,
            demo=self.assistant.demo,
            placeholder=placeholder,
            in_reply_to=self.user_item.id,
        )
        if len(content) > limit:  # a runaway reply is kept, cut at the message limit
            content = content[:limit]
            metadata["truncated"] = True
        # The reply and the notices it replaces land together; alone, the append is one statement.
        with self.store.transaction() if self.replaces else contextlib.nullcontext():
            item, _ = self.store.add_item(
                self.user_id,
                self.user_item.thread_id,
                role="assistant",
                content=content,
                metadata=metadata,
                auto_title=False,
                parent_id=self.user_item.id,
            )
            for notice_id in self.replaces:
                try:
                    self.store.delete_item(self.user_id, self.user_item.thread_id, notice_id)
                except NotFound:  # deleted meanwhile (another tab's retry): nothing to replace
                    continue
        self.release_connection()
        return item

    def failed(self, error: ChatError, partial_text: str = "") -> ReplyFailed:
        """Store the failure (the partial text as incomplete, or an error notice); the failure."""
        if partial_text.strip():
            item = self.record(partial_text, "incomplete", error=error)
        else:
            item = self.record(f"The assistant could not answer: {error.message}", "error", error=error, placeholder=True)
        return ReplyFailed(error, self.user_item, item)


class ReplyService:
    """Replies in the threads of any user; receives its store and backend from outside."""

    def __init__(
        self,
        store: ChatStore,
        assistant: Assistant,
        settings: AssistantSettings,
        release_connection: Callable[[], None],
    ):
        self.store = store
        self.assistant = assistant
        self.settings = settings
        self.release_connection = release_connection

    def start(
        self,
        user_id: str,
        thread_id: str,
        content: str,
        *,
        item_id: str | None = None,
        parent_id: Any = UNSET,
        metadata: dict[str, Any] | None = None,
    ) -> Reply:
        """Store the user's message, then send the request to the backend.

        The message follows `parent_id` (default: the thread's leaf); to edit a message, pass
        the edited message's parent. A retry with the same `item_id` does not store the message
        twice; it asks for a new reply. When the backend fails before streaming, the error item
        is stored and ReplyFailed raised, carrying both items.
        """
        user_item, created = self.store.add_item(
            user_id, thread_id, role="user", content=content, item_id=item_id, parent_id=parent_id, metadata=metadata
        )
        return self._ask(user_id, user_item, answered_before=not created)

    def reply_to(self, user_id: str, thread_id: str, item_id: str) -> Reply:
        """A new reply to a user message stored already (the browser's send, or a retry)."""
        user_item = self.store.get_item(user_id, thread_id, item_id)
        if user_item.type != "message" or user_item.role != "user":
            raise InvalidRequest("Only a user message can be answered.", {"field": "item_id"})
        return self._ask(user_id, user_item, answered_before=True)

    def _ask(self, user_id: str, user_item: ItemRecord, *, answered_before: bool) -> Reply:
        conversation = self.conversation(user_id, user_item.thread_id, up_to=user_item.id)
        replaces = self._notices_to_replace(user_id, user_item) if answered_before else ()
        self.release_connection()
        recorder = ReplyRecorder(self.store, self.assistant, user_id, user_item, self.release_connection, replaces)
        try:
            upstream = self.assistant.stream(conversation)
        except (UpstreamError, UpstreamTimeout) as error:
            raise recorder.failed(error) from error
        return Reply(upstream, recorder)

    def _notices_to_replace(self, user_id: str, user_item: ItemRecord) -> tuple[str, ...]:
        """The question's replies that are only notices (failed, or stopped before any text)
        and that the conversation did not continue from."""
        replies = self.store.list_children(user_id, user_item.thread_id, user_item.id, limit=MAX_PAGE).data
        notices = [item.id for item in replies if item.role == "assistant" and item.metadata.get("placeholder")]
        return tuple(
            notice_id
            for notice_id in notices
            if not self.store.list_children(user_id, user_item.thread_id, notice_id, limit=1).data
        )

    def conversation(self, user_id: str, thread_id: str, *, up_to: str | None = None) -> Conversation:
        """The system prompt and the latest messages of the branch that leads to `up_to` (the
        question's id; default: the thread's leaf), with their attachments, and the thread's
        statistics."""
        settings = self.settings
        newest_first = self.store.iter_ancestors(user_id, thread_id, up_to, page_size=HISTORY_PAGE)
        window = select_window(newest_first, max_messages=settings.history_messages, max_chars=settings.history_chars)
        named = [attachment_id for item in window if item.role == "user" for attachment_id in attachment_ids(item.metadata)]
        files = {record.id: (record, data) for record, data in self.store.read_attachments(user_id, named)}
        history = with_attachments(window, files, vision=settings.vision, max_chars=settings.history_chars)
        by_role = self.store.count_messages(user_id, thread_id)
        stats = ThreadStats(
            messages=sum(by_role.values()),
            by_role=by_role,
            context_messages=len(history),
            context_chars=sum(len(message.content) for message in history),
            history_messages_limit=settings.history_messages,
            history_chars_limit=settings.history_chars,
        )
        return Conversation(build_messages(settings.system_prompt, history), stats)


class Reply:
    """One reply in flight. Iterate `events()`, or call `complete()`; `close()` stops it early."""

    def __init__(self, upstream: Iterator[Any], recorder: ReplyRecorder):
        self.upstream = upstream
        self.recorder = recorder
        self.user_item = recorder.user_item
        self.text: list[str] = []
        self.assistant_item: ItemRecord | None = None
        self.failure: ReplyFailed | None = None

    def events(self) -> Iterator[Event]:
        """("user", item), ("delta", {"text"})..., then ("assistant", item) or ("error", ...)."""
        yield "user", self.user_item.to_dict()
        completion: Completion | None = None
        try:
            for event in self.upstream:
                if isinstance(event, Delta):
                    self.text.append(event.text)
                    yield "delta", {"text": event.text}
                else:
                    completion = event
            if completion is None:
                raise UpstreamError("The assistant backend ended the reply without finishing it.")
        except (UpstreamError, UpstreamTimeout) as error:
            yield self._fail(error)
            return
        except Exception as exc:  # a backend bug must still end as a stored, reported error
            log.exception("assistant backend failed unexpectedly")
            yield self._fail(UpstreamError(f"The assistant backend failed: {type(exc).__name__}."))
            return
        text = "".join(self.text)
        if not text.strip():
            yield self._fail(UpstreamError("The assistant backend sent an empty reply."))
            return
        self.assistant_item = self.recorder.record(text, "complete", completion=completion)
        yield "assistant", self.assistant_item.to_dict()

    def complete(self) -> tuple[ItemRecord, ItemRecord]:
        """Run the reply to its end; raises ReplyFailed (with both items) when it failed."""
        for _ in self.events():
            pass
        if self.failure is not None:
            raise self.failure
        assert self.assistant_item is not None
        return self.user_item, self.assistant_item

    def close(self) -> None:
        """The client went away: release the backend and save what arrived as incomplete."""
        self._close_upstream()
        if self.assistant_item is None:
            text = "".join(self.text)
            if text.strip():
                self.assistant_item = self.recorder.record(text, "incomplete")
            else:
                self.assistant_item = self.recorder.record(INTERRUPTED_NOTICE, "incomplete", placeholder=True)
            log.info("client disconnected; stored the partial reply %s", self.assistant_item.id)

    def _fail(self, error: ChatError) -> Event:
        """Store the failure; its event."""
        self._close_upstream()
        self.failure = self.recorder.failed(error, "".join(self.text))
        self.assistant_item = self.failure.assistant_item
        return "error", {
            "error": {"code": error.code, "message": error.message},
            "status": error.status,
            "assistant": self.assistant_item.to_dict(),
        }

    def _close_upstream(self) -> None:
        if hasattr(self.upstream, "close"):
            self.upstream.close()

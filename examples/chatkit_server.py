"""A ChatKit server kept in chatapp's database, answering with chatapp's offline demo responder.

Run it (after `flask --app wsgi db upgrade`, on the same DATABASE_URL as chatapp):

    .venv/bin/pip install -r requirements-chatkit.txt
    .venv/bin/python examples/chatkit_server.py            # http://127.0.0.1:5001/chatkit

or under gunicorn: `gunicorn 'examples.chatkit_server:create_example_app()'`. The app is chatapp's
own (UI, JSON API) plus one route, POST /chatkit, which hands the request body to
`ChatKitServer.process()`. Every thread it creates shows in chatapp's UI and API as well.

The route takes the user id from an `X-Example-User-Id` header so it can be tried with curl;
a real application takes it from its own authentication instead.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # lets `python examples/chatkit_server.py` import chatapp
    sys.path.insert(0, str(ROOT))

from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult  # noqa: E402
from chatkit.types import (  # noqa: E402
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)
from flask import Flask, Response, request  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from chatapp import create_app  # noqa: E402
from chatapp.assistant.base import Assistant, ChatMessage, Conversation, Delta, ThreadStats  # noqa: E402
from chatapp.assistant.offline import OfflineAssistant  # noqa: E402
from chatapp.errors import InvalidRequest, Unauthorized  # noqa: E402
from chatapp.extensions import csrf  # noqa: E402
from chatapp.integrations.chatkit import ChatKitStore, plain_text  # noqa: E402

USER_HEADER = "X-Example-User-Id"
HISTORY_ITEMS = 50
HISTORY_CHARS = 32_000
TITLE_CHARS = 60


class OfflineChatKitServer(ChatKitServer[dict]):
    """Answers each user message with a chatapp Assistant (the offline responder by default)."""

    def __init__(self, store: ChatKitStore, assistant: Assistant | None = None):
        super().__init__(store)
        self.assistant = assistant or OfflineAssistant(chunk_delay=0)

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: dict
    ) -> AsyncIterator[ThreadStreamEvent]:
        if thread.title is None and input_user_message is not None:
            thread.title = plain_text(input_user_message).strip()[:TITLE_CHARS] or None  # the SDK saves it
        conversation = await self._conversation(thread, context)
        reply = AssistantMessageItem(
            id=self.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[],
        )
        yield ThreadItemAddedEvent(item=reply)
        text = ""
        events = self.assistant.stream(conversation)
        # A backend's iterator may block on the network: step it in a worker thread.
        while (event := await asyncio.to_thread(next, events, None)) is not None:
            if isinstance(event, Delta):
                text += event.text
                yield ThreadItemUpdatedEvent(
                    item_id=reply.id,
                    update=AssistantMessageContentPartTextDelta(content_index=0, delta=event.text),
                )
        reply.content = [AssistantMessageContent(text=text)]
        yield ThreadItemDoneEvent(item=reply)

    async def _conversation(self, thread: ThreadMetadata, context: dict) -> Conversation:
        """The thread's latest messages, oldest first, with the counts the responder reports."""
        page = await self.store.load_thread_items(thread.id, None, HISTORY_ITEMS, "desc", context)
        messages = [
            ChatMessage("user" if isinstance(item, UserMessageItem) else "assistant", plain_text(item))
            for item in reversed(page.data)
            if isinstance(item, (UserMessageItem, AssistantMessageItem)) and plain_text(item).strip()
        ]
        by_role: dict[str, int] = {}
        for message in messages:
            by_role[message.role] = by_role.get(message.role, 0) + 1
        window = list(messages)
        while len(window) > 1 and sum(len(m.content) for m in window) > HISTORY_CHARS:
            window.pop(0)  # the oldest goes first; the question always stays
        stats = ThreadStats(
            messages=len(messages),
            by_role=by_role,
            context_messages=len(window),
            context_chars=sum(len(m.content) for m in window),
            history_messages_limit=HISTORY_ITEMS,
            history_chars_limit=HISTORY_CHARS,
        )
        return Conversation(window, stats)


def process(server: ChatKitServer, body: bytes, context: dict) -> Response:
    """Drive `server.process()` from a synchronous Flask view, streaming its events as SSE."""
    loop = asyncio.new_event_loop()
    try:
        result = loop.run_until_complete(server.process(body, context))
    except ValidationError as exc:
        close_loop(loop)
        raise InvalidRequest("The body is not a ChatKit request.", {"errors": exc.errors(include_url=False, include_input=False)}) from None
    except BaseException:
        close_loop(loop)
        raise
    if isinstance(result, NonStreamingResult):
        close_loop(loop)
        return Response(result.json, mimetype="application/json")
    return Response(stream_events(loop, result), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


def stream_events(loop: asyncio.AbstractEventLoop, result: StreamingResult) -> Iterator[bytes]:
    """The async stream as a sync iterator, for a streamed Flask response.

    One task runs the whole stream (the SDK sets and resets context variables across it) and
    hands each chunk over a one-place queue; the loop runs only while the view waits for the
    next chunk. If the client goes away, the task is cancelled, so ChatKit's
    `handle_stream_cancelled` keeps what was already said.
    """

    async def start() -> tuple[asyncio.Queue, asyncio.Task]:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1)

        async def pump() -> None:
            async for chunk in result:
                await queue.put(chunk)

        return queue, asyncio.get_running_loop().create_task(pump())

    queue, producer = loop.run_until_complete(start())
    try:
        while True:
            getter = loop.create_task(queue.get())
            loop.run_until_complete(asyncio.wait({getter, producer}, return_when=asyncio.FIRST_COMPLETED))
            if getter.done():
                yield getter.result()
                continue
            getter.cancel()
            loop.run_until_complete(asyncio.gather(getter, return_exceptions=True))
            while not queue.empty():
                yield queue.get_nowait()
            producer.result()  # raises what broke the stream, if anything did
            return
    finally:
        if not producer.done():
            producer.cancel()
            loop.run_until_complete(asyncio.gather(producer, return_exceptions=True))
        close_loop(loop)


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


def add_chatkit_endpoint(app: Flask, server: ChatKitServer | None = None, path: str = "/chatkit") -> ChatKitServer:
    """Serve `server` (by default an OfflineChatKitServer on ChatKitStore(app)) at POST `path`."""
    server = server or OfflineChatKitServer(ChatKitStore(app))

    @csrf.exempt  # no cookies are involved: the caller names the user (see the module docstring)
    def chatkit_endpoint() -> Response:
        """Hand a ChatKit request to the ChatKit server, on behalf of the caller's user."""
        user_id = request.headers.get(USER_HEADER, "").strip()
        if not user_id:
            raise Unauthorized(f"Send the user id in the {USER_HEADER} header.")
        return process(server, request.get_data(), {"user_id": user_id})

    app.add_url_rule(path, "chatkit", chatkit_endpoint, methods=["POST"])
    app.extensions["chatkit_server"] = server
    return server


def create_example_app(config: dict[str, Any] | None = None) -> Flask:
    """chatapp's app with the ChatKit endpoint added."""
    from dotenv import load_dotenv

    load_dotenv()
    app = create_app(config)
    add_chatkit_endpoint(app)
    return app


if __name__ == "__main__":
    create_example_app().run(host="127.0.0.1", port=int(os.environ.get("PORT", "5001")))

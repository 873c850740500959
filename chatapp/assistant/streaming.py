"""Streamed response bodies for a reply: Server-Sent Events (API) or NDJSON (browser UI).

`ReplyStream` is the WSGI body itself rather than a generator, so that the server's close()
always reaches `Reply.close()`, even when the client leaves before the first chunk: the
partial reply is then stored as incomplete. Each step runs in an app context of its own, so
no database session is held while the next chunk is awaited.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask

from .service import Event, Reply

Encoder = Callable[[str, dict[str, Any]], str]


def sse_event(name: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event; JSON keeps the data on one line."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def ndjson_event(name: str, data: dict[str, Any]) -> str:
    """One line of newline-delimited JSON: {"event": name, "data": data}."""
    return json.dumps({"event": name, "data": data}, ensure_ascii=False) + "\n"


class ReplyStream:
    """The reply's events, encoded, as a WSGI iterable whose close() finishes the reply.

    `final`, called once after the reply's own events (in an app context), may add one more
    event, such as the commit position of what the reply stored.
    """

    def __init__(self, app: Flask, reply: Reply, encode: Encoder, final: Callable[[], Event | None] | None = None):
        self.app = app
        self.reply = reply
        self.encode = encode
        self.events: Iterator[Event] = reply.events()
        self.final = final

    def __iter__(self) -> ReplyStream:
        return self

    def __next__(self) -> bytes:
        with self.app.app_context():
            try:
                name, data = next(self.events)
            except StopIteration:
                final, self.final = self.final, None
                event = final() if final is not None else None
                if event is None:
                    raise
                name, data = event
            return self.encode(name, data).encode()

    def close(self) -> None:
        with self.app.app_context():
            self.events.close()
            self.reply.close()

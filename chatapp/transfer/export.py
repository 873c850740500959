"""Streamed exports: a thread as its JSON document or as Markdown, all threads as a ZIP, and the
streamed download response the API and the UI both answer with.

Every export is a generator of byte chunks that reads the store a batch at a time
(`iter_items`, `iter_threads`), so memory stays flat however long the thread: nothing holds more
than one batch of items, one attachment and one chunk of output. The caller checks the thread
exists before streaming starts (a missing thread must be a 404, not a broken download).
"""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime

from flask import Response, stream_with_context

from ..serialization import dumps
from ..store import ChatStore, ThreadRecord
from .document import ATTACHMENT_FIELDS, FORMAT, ITEM_FIELDS, THREAD_FIELDS, VERSION

CHUNK_BYTES = 64 * 1024
ITEM_BATCH = 500


def chunked(pieces: Iterable[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The pieces joined into chunks of about `size` bytes (fewer, larger writes to the socket)."""
    buffer: list[bytes] = []
    held = 0
    for piece in pieces:
        buffer.append(piece)
        held += len(piece)
        if held >= size:
            yield b"".join(buffer)
            buffer, held = [], 0
    if buffer:
        yield b"".join(buffer)


def thread_json(store: ChatStore, user_id: str, thread: ThreadRecord, *, with_content: bool = False) -> Iterator[bytes]:
    """The thread's document (document.py), piece by piece."""
    head = {"format": FORMAT, "version": VERSION, "thread": {name: getattr(thread, name) for name in THREAD_FIELDS}}
    yield dumps(head)[:-1] + b',"items":['
    separator = b""
    for item in store.iter_items(user_id, thread.id, page_size=ITEM_BATCH):
        yield separator + dumps({name: getattr(item, name) for name in ITEM_FIELDS})
        separator = b","
    yield b'],"attachments":['
    separator = b""
    for attachment in store.list_thread_attachments(user_id, thread.id):
        part = {name: getattr(attachment, name) for name in ATTACHMENT_FIELDS}
        if with_content:
            _, content = store.get_attachment_content(user_id, attachment.id)
            part["content_base64"] = base64.b64encode(content).decode("ascii")
        yield separator + dumps(part)
        separator = b","
    yield b"]}"


def _utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks inside `text`."""
    longest, run = 0, 0
    for character in text:
        run = run + 1 if character == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def thread_markdown(store: ChatStore, user_id: str, thread: ThreadRecord) -> Iterator[bytes]:
    """The thread for people to read: a heading per item, messages as written, other items as JSON."""
    title = " ".join((thread.title or "Untitled chat").split())
    yield (
        f"# {title}\n\n- thread: `{thread.id}`\n- created: {_utc_text(thread.created_at)}\n"
        f"- updated: {_utc_text(thread.updated_at)}\n"
    ).encode()
    for item in store.iter_items(user_id, thread.id, page_size=ITEM_BATCH):
        who = item.role if item.type == "message" else f"{item.type}" + (f" ({item.role})" if item.role else "")
        if item.type == "message" and isinstance(item.content, str):
            body = item.content
        else:
            text = json.dumps(item.content, ensure_ascii=False, indent=2, default=str)
            fence = _fence(text)
            body = f"{fence}json\n{text}\n{fence}"
        yield f"\n## {who} · {_utc_text(item.created_at)}\n\n{body}\n".encode()
    attachments = store.list_thread_attachments(user_id, thread.id)
    if attachments:
        yield b"\n## Attachments\n\n"
        for attachment in attachments:
            yield f"- {attachment.filename} ({attachment.content_type}, {attachment.size} bytes)\n".encode()


class _Sink:
    """A write-only, non-seekable file for zipfile: what it is given waits here to be streamed."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.held = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.held += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts, self.held = [], 0
        return data


def all_threads_zip(store: ChatStore, user_id: str, *, with_content: bool = False) -> Iterator[bytes]:
    """Every thread of the user as `<thread id>.json` in a ZIP, written as it streams.

    zipfile writes to a non-seekable file with data descriptors after each entry, so no entry
    is ever held whole; the central directory comes last.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for thread in store.iter_threads(user_id):
            with archive.open(f"{thread.id}.json", mode="w", force_zip64=True) as entry:
                for piece in thread_json(store, user_id, thread, with_content=with_content):
                    entry.write(piece)
                    if sink.held >= CHUNK_BYTES:
                        yield sink.drain()
    yield sink.drain()  # the last entry's end and the central directory


def download(chunks: Iterable[bytes], mimetype: str, filename: str) -> Response:
    """A streamed download for the API and the UI: the store is read as the client reads
    (stream_with_context keeps the request's session until the last chunk)."""
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response

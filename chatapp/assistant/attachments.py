"""What a model receives of a message's attachments: text files as text, images as image parts.

A user message names its attachments in `metadata["attachments"]` (their ids; the UI's composer
writes it). Each becomes a part of the message sent to the backend:
- a text file (UTF-8 without NUL bytes, whatever its declared type): its text, fenced and named,
  within a character budget of its own (ASSISTANT_HISTORY_CHARS, newest messages first; beyond
  it the text is cut, and the cut said);
- a PNG, JPEG, GIF or WebP image (told by its bytes): an image part when the model accepts
  images (ASSISTANT_VISION=true), else a note naming it;
- anything else: a note naming it, so the model knows a file was there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..rules import attachment_ids, image_type
from ..store import AttachmentRecord, ItemRecord
from .base import ChatMessage, ImagePart, Part, TextPart

CUT_NOTE = "[… cut: the attachments' share of the context is used up]"


def as_text(data: bytes) -> str | None:
    """The file's text when it is UTF-8 without NUL characters; None for a binary file."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def fenced(name: str, text: str) -> str:
    """The text in a code fence longer than any run of backticks inside it, under the file's name."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f'Attached file "{name}":\n{fence}\n{text}\n{fence}'


class CharBudget:
    """Characters of attachment text still allowed in one request."""

    def __init__(self, chars: int):
        self.left = chars

    def take(self, text: str) -> str:
        if len(text) <= self.left:
            self.left -= len(text)
            return text
        kept = text[: self.left]
        self.left = 0
        return f"{kept}\n{CUT_NOTE}" if kept else CUT_NOTE


def parts_for(files: Sequence[tuple[AttachmentRecord, bytes]], *, vision: bool, budget: CharBudget) -> tuple[Part, ...]:
    """The parts for one message's attachments, in the order the message names them."""
    parts: list[Part] = []
    for record, data in files:
        media_type = image_type(data)
        if media_type is not None:
            if vision:
                parts.append(ImagePart(media_type, data))
            else:
                parts.append(TextPart(f'[Image "{record.filename}" attached; this model is not shown images.]'))
            continue
        text = as_text(data)
        if text is None:
            parts.append(TextPart(f'[File "{record.filename}" ({record.content_type}, {record.size} bytes) attached; only text files and images are sent.]'))
        else:
            parts.append(TextPart(fenced(record.filename, budget.take(text))))
    return tuple(parts)


def with_attachments(
    window: Sequence[ItemRecord], files: dict[str, tuple[AttachmentRecord, bytes]], *, vision: bool, max_chars: int
) -> list[ChatMessage]:
    """The window's messages with their attachments' parts; `files` maps an id to the user's stored file."""
    budget = CharBudget(max_chars)
    messages: list[Any] = [None] * len(window)
    for index in range(len(window) - 1, -1, -1):  # newest first: the budget favours the question
        item = window[index]
        named = [files[attachment_id] for attachment_id in attachment_ids(item.metadata) if attachment_id in files]
        parts = parts_for(named, vision=vision, budget=budget) if item.role == "user" else ()
        messages[index] = ChatMessage(item.role, item.content, parts)
    return messages

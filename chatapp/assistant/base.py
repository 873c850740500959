"""The assistant backend interface: a conversation in, text deltas and one completion out."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TextPart:
    """Text that goes with a message: an attached text file, or a note about an attachment."""

    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An attached image the model is shown (ASSISTANT_VISION): a PNG, JPEG, GIF or WebP."""

    media_type: str
    data: bytes

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the context sent to a backend; `parts` are what its attachments add."""

    role: str  # "system", "user" or "assistant"
    content: str
    parts: tuple[Part, ...] = ()

    @property
    def text(self) -> str:
        """The message with its text parts, as one text."""
        return "\n\n".join([self.content, *(part.text for part in self.parts if isinstance(part, TextPart))])

    def to_dict(self) -> dict[str, Any]:
        """Chat Completions' form: content as a string, or as parts when there are images."""
        images = [part for part in self.parts if isinstance(part, ImagePart)]
        if not images:
            return {"role": self.role, "content": self.text}
        content: list[dict[str, Any]] = [{"type": "text", "text": self.text}]
        content += [{"type": "image_url", "image_url": {"url": image.data_url()}} for image in images]
        return {"role": self.role, "content": content}


@dataclass(frozen=True, slots=True)
class ThreadStats:
    """Facts about the thread a reply is for (the offline responder reports them)."""

    messages: int = 0
    by_role: dict[str, int] = field(default_factory=dict)
    context_messages: int = 0
    context_chars: int = 0
    history_messages_limit: int = 0
    history_chars_limit: int = 0


@dataclass(frozen=True, slots=True)
class Conversation:
    """What a backend answers: the messages (system prompt first) and the thread's stats."""

    messages: list[ChatMessage]
    stats: ThreadStats = field(default_factory=ThreadStats)

    @property
    def question(self) -> str:
        """The newest user message: the one being answered."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the reply's text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class Completion:
    """The end of a reply: what the backend said about it."""

    model: str
    finish_reason: str | None
    usage: Usage | None = None
    sources: list[Any] | None = None  # RAG backends: the retrieved chunks' metadata
    confidence: float | None = None


ReplyEvent = Delta | Completion


class Assistant(Protocol):
    """A backend. `stream` sends the request before it returns, so a refused connection or an
    error status raises UpstreamError / UpstreamTimeout right away; the iterator then yields
    Deltas and ends with exactly one Completion, or raises one of those errors midway.
    Closing the iterator early releases the backend connection."""

    demo: bool  # True for the offline responder, which the UI labels as a demo
    model: str  # the configured model, recorded when a reply fails before the backend names one

    def stream(self, conversation: Conversation) -> Iterator[ReplyEvent]: ...

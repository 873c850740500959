"""The built-in offline responder: a deterministic demo that needs no model and no network."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from .base import Completion, Conversation, Delta, ReplyEvent

OFFLINE_MODEL = "chatapp-offline-demo"
QUOTE_CHARS = 280
WORDS_PER_CHUNK = 3


def _quote(question: str) -> str:
    flat = " ".join(question.split())
    if len(flat) > QUOTE_CHARS:
        flat = flat[: QUOTE_CHARS - 1].rstrip() + "…"
    return flat


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def offline_reply(conversation: Conversation) -> str:
    """The whole reply text; the same conversation always gets the same text."""
    question = conversation.question
    stats = conversation.stats
    words = len(question.split())
    from_user = stats.by_role.get("user", 0)
    from_assistant = stats.by_role.get("assistant", 0)
    lines = [
        "Demo responder (offline, no model connected).",
        "",
        f"You asked: “{_quote(question)}”",
        "",
        f"Your message has {_plural(words, 'word')} and {_plural(len(question), 'character')}"
        + (", and it ends with a question mark." if question.rstrip().endswith("?") else "."),
        f"This thread holds {_plural(stats.messages, 'message')}: {from_user} from you and "
        f"{from_assistant} from the assistant.",
        f"A connected model would receive the last {_plural(stats.context_messages, 'message')} "
        f"({_plural(stats.context_chars, 'character')}; the limits are "
        f"{stats.history_messages_limit} messages and {stats.history_chars_limit} characters).",
        "",
        "To get real answers, set ASSISTANT_BASE_URL, ASSISTANT_API_KEY and ASSISTANT_MODEL "
        "(see “Connect a model” in the README).",
    ]
    return "\n".join(lines)


class OfflineAssistant:
    """Streams `offline_reply` a few words at a time, so the UI shows streaming working."""

    demo = True
    model = OFFLINE_MODEL

    def __init__(self, chunk_delay: float = 0.02):
        self.chunk_delay = chunk_delay

    def stream(self, conversation: Conversation) -> Iterator[ReplyEvent]:
        return self._chunks(offline_reply(conversation))

    def _chunks(self, text: str) -> Iterator[ReplyEvent]:
        pieces = re.findall(r"\S+\s*|\s+", text)
        for start in range(0, len(pieces), WORDS_PER_CHUNK):
            if start and self.chunk_delay:
                time.sleep(self.chunk_delay)
            yield Delta("".join(pieces[start : start + WORDS_PER_CHUNK]))
        yield Completion(model=OFFLINE_MODEL, finish_reason="stop")

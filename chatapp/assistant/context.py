"""The context window: the system prompt, then the latest messages of the branch within the budgets."""

from __future__ import annotations

from collections.abc import Iterable

from ..store import ItemRecord
from .base import ChatMessage

CONTEXT_ROLES = ("user", "assistant", "system")


def is_context_message(item: ItemRecord) -> bool:
    """Messages a model should see: not tool items, not error notices in place of a reply."""
    return (
        item.type == "message"
        and item.role in CONTEXT_ROLES
        and isinstance(item.content, str)
        and bool(item.content.strip())
        and not item.metadata.get("placeholder")
    )


def select_window(newest_first: Iterable[ItemRecord], *, max_messages: int, max_chars: int) -> list[ItemRecord]:
    """The latest message items that fit both budgets, oldest first.

    The newest message (the question) is always kept, even past the character budget. The
    window is contiguous: it stops at the first message that does not fit, and it never starts
    with an assistant message, since some chat templates refuse an assistant turn first.
    `newest_first` is read only as far as the window reaches (the store pages it lazily).
    """
    window: list[ItemRecord] = []
    chars = 0
    for item in newest_first:
        if len(window) >= max_messages:
            break
        if not is_context_message(item):
            continue
        if window and chars + len(item.content) > max_chars:
            break
        window.append(item)
        chars += len(item.content)
    window.reverse()
    while len(window) > 1 and window[0].role == "assistant":
        window.pop(0)
    return window


def select_history(
    newest_first: Iterable[ItemRecord], *, max_messages: int, max_chars: int
) -> list[ChatMessage]:
    """`select_window` as the messages a backend receives (without attachments)."""
    window = select_window(newest_first, max_messages=max_messages, max_chars=max_chars)
    return [ChatMessage(item.role, item.content) for item in window]


def build_messages(system_prompt: str, history: list[ChatMessage]) -> list[ChatMessage]:
    """What the backend receives: the system prompt first, then the history."""
    prompt = [ChatMessage("system", system_prompt)] if system_prompt else []
    return prompt + history

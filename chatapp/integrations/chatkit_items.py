"""How a ChatKit item, as JSON, is kept as a chatapp item: one rule for the ChatKit adapter
(chatkit.py) and the legacy import (chatapp/legacy), which reads ChatKit JSON without the SDK.

User and assistant messages with text become ordinary chatapp messages (role, plain text clipped
to the message limit) with the item's JSON in metadata["chatkit"]; every other item, and a
message without text, keeps its ChatKit type name and has the JSON as its content. The adapter
reads either form back into the same ChatKit item.
"""

from __future__ import annotations

from typing import Any

CHATKIT_KEY = "chatkit"  # the reserved metadata key holding the ChatKit JSON
MESSAGE_ROLES = {"user_message": "user", "assistant_message": "assistant"}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_text(data: dict[str, Any]) -> str:
    """A message's text as chatapp shows it: user parts are inline, assistant parts blocks."""
    parts = data.get("content")
    if not isinstance(parts, list):
        return ""
    texts = [part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)]
    return ("" if data.get("type") == "user_message" else "\n\n").join(texts)


def stored_fields(data: dict[str, Any], max_message_chars: int) -> dict[str, Any]:
    """The chatapp item (type, role, content, metadata) that keeps this ChatKit item's JSON."""
    role = MESSAGE_ROLES.get(data.get("type"))  # type: ignore[arg-type]
    if role is not None:
        text = message_text(data)
        if text.strip():
            return {
                "type": "message",
                "role": role,
                "content": clip(text, max_message_chars),
                "metadata": {CHATKIT_KEY: data},
            }
    return {"type": data["type"], "role": None, "content": data, "metadata": {}}

"""Assistant replies: the backends (offline demo, OpenAI-compatible) and the reply service.

The app wires them per request in chatapp/services.py (`reply_service()`).
"""

from __future__ import annotations

from ..config import AssistantSettings
from .base import Assistant
from .service import Reply, ReplyFailed, ReplyService


def make_assistant(settings: AssistantSettings) -> Assistant:
    """The backend the settings choose: the offline responder unless a base URL is set."""
    if settings.offline:
        from .offline import OfflineAssistant

        return OfflineAssistant()
    from .openai_compatible import OpenAICompatibleAssistant

    return OpenAICompatibleAssistant(settings)


__all__ = ["Assistant", "Reply", "ReplyFailed", "ReplyService", "make_assistant"]

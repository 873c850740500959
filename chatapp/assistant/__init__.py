"""Assistant replies: the backends (offline demo, OpenAI-compatible) and the reply service."""

from __future__ import annotations

from flask import current_app

from ..config import AssistantSettings
from ..extensions import db
from ..store import chat_store
from .base import Assistant
from .service import Reply, ReplyService


def make_assistant(settings: AssistantSettings) -> Assistant:
    """The backend the settings choose: the offline responder unless a base URL is set."""
    if settings.offline:
        from .offline import OfflineAssistant

        return OfflineAssistant()
    from .openai_compatible import OpenAICompatibleAssistant

    return OpenAICompatibleAssistant(settings)


def current_assistant() -> Assistant:
    """The app's backend, built on first use and kept (its HTTP client pools connections)."""
    assistant = current_app.extensions.get("chatapp.assistant")
    if assistant is None:
        assistant = make_assistant(current_app.config["ASSISTANT"])
        current_app.extensions["chatapp.assistant"] = assistant
    return assistant


def reply_service() -> ReplyService:
    """The reply service for the current app: its store, its backend, its settings."""
    return ReplyService(
        chat_store(),
        current_assistant(),
        current_app.config["ASSISTANT"],
        release_connection=db.session.remove,
    )


__all__ = ["Reply", "ReplyService", "current_assistant", "make_assistant", "reply_service"]

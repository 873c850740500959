"""Where the app wires its per-request objects: the stores on the request's session, with the
app's configured limits, and the assistant with its reply service.

Views, CLI commands and the ChatKit adapter call these; the store itself never looks at Flask.
"""

from __future__ import annotations

from flask import current_app

from .assistant import Assistant, ReplyService, make_assistant
from .extensions import db
from .store import AccountStore, ChatStore

ASSISTANT_KEY = "chatapp.assistant"


def chat_store() -> ChatStore:
    """The chat store for the current app and request."""
    config = current_app.config
    return ChatStore(
        db.session,
        max_message_chars=config["MAX_MESSAGE_CHARS"],
        max_attachment_bytes=config["MAX_ATTACHMENT_BYTES"],
    )


def account_store() -> AccountStore:
    """The account store (users, API tokens) for the current app and request."""
    return AccountStore(db.session)


def current_assistant() -> Assistant:
    """The app's backend, built on first use and kept (its HTTP client pools connections)."""
    assistant = current_app.extensions.get(ASSISTANT_KEY)
    if assistant is None:
        assistant = make_assistant(current_app.config["ASSISTANT"])
        current_app.extensions[ASSISTANT_KEY] = assistant
    return assistant


def reply_service() -> ReplyService:
    """The reply service for the current app: its store, its backend, its settings."""
    return ReplyService(
        chat_store(),
        current_assistant(),
        current_app.config["ASSISTANT"],
        release_connection=db.session.remove,
    )

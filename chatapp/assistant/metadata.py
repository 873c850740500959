"""The metadata stored on an assistant item: model, usage, latency, finish reason, RAG fields, status."""

from __future__ import annotations

from typing import Any, Literal

from ..errors import ChatError
from .base import Completion

Status = Literal["complete", "incomplete", "error"]


def reply_metadata(
    *,
    status: Status,
    latency_ms: int,
    model: str | None,
    completion: Completion | None = None,
    error: ChatError | None = None,
    demo: bool = False,
    placeholder: bool = False,
    in_reply_to: str | None = None,
) -> dict[str, Any]:
    """The item metadata for a reply; fields a backend did not report are left out, not null.

    `placeholder` marks content that is a notice written by chatapp rather than model output
    (an error, or an interruption before any text): the context window skips those.
    `in_reply_to` is the id of the user message answered (a retry answers it again).
    """
    metadata: dict[str, Any] = {
        "status": status,
        "model": completion.model if completion and completion.model else model,
        "latency_ms": latency_ms,
    }
    if completion is not None:
        metadata["finish_reason"] = completion.finish_reason
        if completion.usage is not None:
            metadata["usage"] = completion.usage.to_dict()
        if completion.sources is not None:
            metadata["sources"] = completion.sources
        if completion.confidence is not None:
            metadata["confidence"] = completion.confidence
    if error is not None:
        metadata["error"] = {"code": error.code, "message": error.message}
    if in_reply_to is not None:
        metadata["in_reply_to"] = in_reply_to
    if demo:
        metadata["demo"] = True
    if placeholder:
        metadata["placeholder"] = True
    return metadata

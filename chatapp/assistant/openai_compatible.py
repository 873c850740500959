"""The OpenAI-compatible backend: Chat Completions streaming through the official `openai` client.

It covers OpenAI itself and local servers such as Ollama, vLLM and LM Studio. The client parses
the Server-Sent Events; this module maps its chunks to Deltas and one Completion, and its
exceptions to UpstreamError (502) and UpstreamTimeout (504).
"""

from __future__ import annotations

import json
import logging
import numbers
from collections.abc import Iterator
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk

from ..config import AssistantSettings
from ..errors import ChatError, UpstreamError, UpstreamTimeout
from .base import Completion, Conversation, Delta, ReplyEvent, Usage

log = logging.getLogger("chatapp")

# Ollama and vLLM accept any key; the client insists on one.
PLACEHOLDER_API_KEY = "no-key"
MAX_ERROR_CHARS = 300


class OpenAICompatibleAssistant:
    """Asks `settings.model` at `settings.base_url`; no retries (the UI offers one)."""

    demo = False

    def __init__(self, settings: AssistantSettings):
        self.settings = settings
        self.model = settings.model or ""
        self.client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or PLACEHOLDER_API_KEY,
            # Bounds the connect and every read: a backend that goes quiet fails after it.
            timeout=settings.timeout,
            # A retried generation costs tokens and time the user cannot see; fail fast instead.
            max_retries=0,
        )

    def stream(self, conversation: Conversation) -> Iterator[ReplyEvent]:
        request: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [message.to_dict() for message in conversation.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.settings.temperature is not None:
            request["temperature"] = self.settings.temperature
        try:
            chunks = self.client.chat.completions.create(**request)
        except openai.OpenAIError as exc:
            raise self.translate(exc) from exc
        return self._read(chunks)

    def _read(self, chunks: openai.Stream[ChatCompletionChunk]) -> Iterator[ReplyEvent]:
        model = self.model
        finish_reason: str | None = None
        usage: Usage | None = None
        extras: dict[str, Any] = {}
        try:
            for chunk in chunks:
                if not isinstance(chunk, ChatCompletionChunk) or chunk.choices is None:
                    raise UpstreamError(
                        "The assistant backend sent a malformed stream (a chunk without choices)."
                    )
                model = chunk.model or model
                usage = usage_from(chunk.usage) or usage
                extras.update(rag_fields(chunk.model_extra or {}))
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue  # we ask for one choice; ignore any others
                    if choice.delta is not None and choice.delta.content:
                        yield Delta(choice.delta.content)
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
        except openai.OpenAIError as exc:
            raise self.translate(exc) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UpstreamError(
                "The assistant backend sent a malformed stream (not JSON)."
            ) from exc
        finally:
            chunks.close()
        if finish_reason is None:
            raise UpstreamError("The assistant backend closed the stream before the reply finished.")
        yield Completion(
            model=model,
            finish_reason=finish_reason,
            usage=usage,
            sources=extras.get("sources"),
            confidence=extras.get("confidence"),
        )

    def translate(self, exc: openai.OpenAIError) -> ChatError:
        """The domain error for a client exception; its message names the backend, never the key."""
        where = self.settings.base_url
        if isinstance(exc, openai.APITimeoutError):
            return UpstreamTimeout(
                f"The assistant backend at {where} did not answer within "
                f"{self.settings.timeout:g} seconds.",
                {"timeout": self.settings.timeout},
            )
        if isinstance(exc, openai.APIConnectionError):
            return UpstreamError(f"Could not reach the assistant backend at {where}.")
        if isinstance(exc, openai.APIStatusError):
            return UpstreamError(
                f"The assistant backend answered HTTP {exc.status_code}: {_short(exc.message)}",
                {"upstream_status": exc.status_code},
            )
        log.warning("assistant backend error: %r", exc)
        return UpstreamError(f"The assistant backend failed: {_short(str(exc))}")


def usage_from(raw: Any) -> Usage | None:
    """Token usage from the client's usage object (or a dict), when all three counts are there."""
    if raw is None:
        return None
    get = raw.get if isinstance(raw, dict) else (lambda name: getattr(raw, name, None))
    counts = [get(name) for name in ("prompt_tokens", "completion_tokens", "total_tokens")]
    if not all(isinstance(count, int) and not isinstance(count, bool) for count in counts):
        return None
    return Usage(*counts)


def rag_fields(extra: dict[str, Any]) -> dict[str, Any]:
    """`sources` and `confidence` that a RAG backend adds to its chunks, when well-formed."""
    found: dict[str, Any] = {}
    sources = extra.get("sources")
    if isinstance(sources, list):
        found["sources"] = sources
    confidence = extra.get("confidence")
    if isinstance(confidence, numbers.Real) and not isinstance(confidence, bool):
        found["confidence"] = float(confidence)
    return found


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"

"""Assistant units: the context window, the metadata of a stored reply, the offline responder, config."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatapp.assistant.base import ChatMessage, Completion, Conversation, Delta, ThreadStats, Usage
from chatapp.assistant.context import build_messages, is_context_message, select_history
from chatapp.assistant.metadata import reply_metadata
from chatapp.assistant.offline import OFFLINE_MODEL, OfflineAssistant, offline_reply
from chatapp.assistant.openai_compatible import rag_fields, usage_from
from chatapp.config import AssistantSettings, ConfigError
from chatapp.errors import UpstreamError, UpstreamTimeout
from chatapp.store import ItemRecord

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def item(seq: int, role: str | None, content, type: str = "message", **metadata) -> ItemRecord:
    return ItemRecord(f"msg_{seq}", "thr_1", seq, type, role, content, metadata, NOW)


def newest_first(*records: ItemRecord) -> list[ItemRecord]:
    return sorted(records, key=lambda record: record.seq, reverse=True)


# -- context window ------------------------------------------------------------------------


def test_history_is_oldest_first_with_roles_and_message_budget():
    records = newest_first(*(item(seq, "user" if seq % 2 else "assistant", f"m{seq}") for seq in range(1, 8)))
    window = select_history(records, max_messages=3, max_chars=10_000)
    assert window == [ChatMessage("user", "m5"), ChatMessage("assistant", "m6"), ChatMessage("user", "m7")]


def test_character_budget_keeps_the_latest_contiguous_messages():
    records = newest_first(
        item(1, "user", "a" * 50), item(2, "assistant", "b" * 10), item(3, "user", "c" * 20), item(4, "assistant", "d" * 5), item(5, "user", "e" * 5)
    )
    window = select_history(records, max_messages=100, max_chars=40)
    # e(5)+d(5)+c(20)+b(10) = 40 fits; a(50) does not; the window then starts at a user turn.
    assert [message.content[0] for message in window] == ["c", "d", "e"]
    assert sum(len(message.content) for message in window) <= 40


def test_the_question_is_kept_even_past_the_character_budget():
    window = select_history(newest_first(item(1, "user", "old"), item(2, "user", "x" * 500)), max_messages=10, max_chars=100)
    assert window == [ChatMessage("user", "x" * 500)]


def test_tool_items_and_error_notices_stay_out_of_the_context():
    records = newest_first(
        item(1, "user", "question one"),
        item(2, "tool", {"name": "search"}, type="tool_call"),
        item(3, "assistant", "The assistant could not answer: boom", status="error", placeholder=True),
        item(4, "assistant", "a partial answer", status="incomplete"),
        item(5, "user", "question two"),
    )
    assert not is_context_message(records[2]) and not is_context_message(records[3])
    window = select_history(records, max_messages=10, max_chars=10_000)
    assert window == [
        ChatMessage("user", "question one"),
        ChatMessage("assistant", "a partial answer"),
        ChatMessage("user", "question two"),
    ]


def test_window_never_opens_with_an_assistant_turn():
    records = newest_first(item(1, "user", "q1"), item(2, "assistant", "a1"), item(3, "user", "q2"))
    assert select_history(records, max_messages=2, max_chars=1000) == [ChatMessage("user", "q2")]


def test_system_prompt_comes_first():
    history = [ChatMessage("user", "hi")]
    assert build_messages("Be brief.", history) == [ChatMessage("system", "Be brief."), ChatMessage("user", "hi")]
    assert build_messages("", history) == history


# -- metadata mapping ----------------------------------------------------------------------


def test_complete_reply_metadata_carries_model_usage_latency_finish_reason_and_rag_fields():
    completion = Completion(
        model="gpt-test-2025",
        finish_reason="stop",
        usage=Usage(prompt_tokens=12, completion_tokens=5, total_tokens=17),
        sources=[{"document": "neon.md", "chunk": 3}],
        confidence=0.82,
    )
    metadata = reply_metadata(status="complete", latency_ms=420, model="gpt-test", completion=completion)
    assert metadata == {
        "status": "complete",
        "model": "gpt-test-2025",  # the model the backend names wins over the configured one
        "latency_ms": 420,
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        "sources": [{"document": "neon.md", "chunk": 3}],
        "confidence": 0.82,
    }


def test_unreported_fields_are_left_out_and_errors_are_recorded():
    metadata = reply_metadata(
        status="error", latency_ms=3, model="llama3.2", error=UpstreamTimeout("too slow"), placeholder=True
    )
    assert metadata == {
        "status": "error",
        "model": "llama3.2",
        "latency_ms": 3,
        "error": {"code": "upstream_timeout", "message": "too slow"},
        "placeholder": True,
    }
    plain = reply_metadata(status="complete", latency_ms=1, model="m", completion=Completion("m", "length"), demo=True)
    assert plain == {"status": "complete", "model": "m", "latency_ms": 1, "finish_reason": "length", "demo": True}


def test_usage_and_rag_fields_are_taken_only_when_well_formed():
    assert usage_from({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}) == Usage(1, 2, 3)
    assert usage_from({"prompt_tokens": 1, "completion_tokens": None, "total_tokens": 3}) is None
    assert usage_from(None) is None
    assert rag_fields({"sources": [{"id": 1}], "confidence": 1}) == {"sources": [{"id": 1}], "confidence": 1.0}
    assert rag_fields({"sources": "not a list", "confidence": "high"}) == {}
    assert rag_fields({"confidence": True}) == {}


# -- offline responder ---------------------------------------------------------------------


def conversation(question: str) -> Conversation:
    return Conversation(
        [ChatMessage("system", "Be brief."), ChatMessage("user", "earlier"), ChatMessage("assistant", "ok"), ChatMessage("user", question)],
        ThreadStats(messages=3, by_role={"user": 2, "assistant": 1}, context_messages=3, context_chars=13, history_messages_limit=20, history_chars_limit=24000),
    )


def test_offline_reply_restates_the_question_and_reports_thread_statistics():
    text = offline_reply(conversation("How do I connect to Neon?"))
    assert text.startswith("Demo responder")
    assert "“How do I connect to Neon?”" in text
    assert "6 words and 25 characters" in text and "question mark" in text
    assert "3 messages: 2 from you and 1 from the assistant" in text
    assert "last 3 messages (13 characters" in text
    assert "ASSISTANT_BASE_URL" in text


def test_offline_responder_streams_deterministic_chunks_then_a_completion():
    assistant = OfflineAssistant(chunk_delay=0)
    first = list(assistant.stream(conversation("Why?")))
    second = list(assistant.stream(conversation("Why?")))
    assert first == second
    deltas = [event.text for event in first if isinstance(event, Delta)]
    assert len(deltas) > 5
    assert "".join(deltas) == offline_reply(conversation("Why?"))
    assert first[-1] == Completion(model=OFFLINE_MODEL, finish_reason="stop")
    assert assistant.demo is True


# -- configuration -------------------------------------------------------------------------


def test_assistant_settings_default_to_offline_and_read_every_variable():
    assert AssistantSettings.from_env({}).offline
    settings = AssistantSettings.from_env(
        {
            "ASSISTANT_BASE_URL": "http://127.0.0.1:11434/v1",
            "ASSISTANT_API_KEY": "sk-secret",
            "ASSISTANT_MODEL": "llama3.2",
            "ASSISTANT_SYSTEM_PROMPT": "Answer in French.",
            "ASSISTANT_TEMPERATURE": "0.2",
            "ASSISTANT_TIMEOUT": "7.5",
            "ASSISTANT_HISTORY_MESSAGES": "8",
            "ASSISTANT_HISTORY_CHARS": "4000",
        }
    )
    assert not settings.offline
    assert (settings.model, settings.system_prompt, settings.temperature, settings.timeout) == ("llama3.2", "Answer in French.", 0.2, 7.5)
    assert (settings.history_messages, settings.history_chars) == (8, 4000)
    assert "sk-secret" not in repr(settings) and "sk-secret" not in settings.describe()


@pytest.mark.parametrize(
    "env, message",
    [
        ({"ASSISTANT_BASE_URL": "http://x/v1"}, "ASSISTANT_MODEL"),
        ({"ASSISTANT_TIMEOUT": "0"}, "ASSISTANT_TIMEOUT"),
        ({"ASSISTANT_TEMPERATURE": "9"}, "ASSISTANT_TEMPERATURE"),
        ({"ASSISTANT_HISTORY_MESSAGES": "0"}, "ASSISTANT_HISTORY_MESSAGES"),
        ({"ASSISTANT_HISTORY_CHARS": "lots"}, "ASSISTANT_HISTORY_CHARS"),
    ],
)
def test_bad_assistant_settings_are_refused(env, message):
    with pytest.raises(ConfigError, match=message):
        AssistantSettings.from_env(env)


def test_upstream_errors_map_to_502_and_504():
    assert (UpstreamError("x").status, UpstreamTimeout("x").status) == (502, 504)

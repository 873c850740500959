"""Helpers and fixtures for the ChatKit adapter's tests: contexts, the store, every item variant.

Loaded for every module by tests/conftest.py (openai-chatkit is a test dependency).
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    CustomSummary,
    CustomTask,
    DurationSummary,
    EndOfTurnItem,
    EntitySource,
    FileAttachment,
    FileSource,
    FileTask,
    GeneratedImage,
    GeneratedImageItem,
    HiddenContextItem,
    ImageAttachment,
    ImageTask,
    InferenceOptions,
    SDKHiddenContextItem,
    SearchTask,
    StructuredInputAnswer,
    StructuredInputFreeform,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    TaskItem,
    ThoughtTask,
    ThreadItem,
    ThreadMetadata,
    ToolChoice,
    URLSource,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
)
from chatkit.widgets import Card, Col, DynamicWidgetComponent, Text, WidgetTemplate

from chatapp.extensions import db
from chatapp.integrations.chatkit import ChatKitStore
from chatapp.services import chat_store
from chatapp.store.accounts import AccountStore

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Loading any stored Card/Text warns in the SDK itself; the tests build a few on purpose.
# A widget the way the SDK recommends building them: from a template, as a DynamicWidgetRoot.
TEMPLATE = WidgetTemplate(
    {
        "version": "1.0",
        "name": "greeting",
        "template": '{"type": "Card", "size": "sm", "children": [{"type": "Text", "value": "Hello {{ name }}"},'
        ' {"type": "Markdown", "value": "**hi**", "customField": [1, 2]}], "theme": "dark"}',
        "jsonSchema": {},
    }
)


@dataclass
class Context:
    """A host application's request context, as ChatKit passes it to the store."""

    user_id: str


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(8).hex()}"


@pytest.fixture
def store(app) -> ChatKitStore:
    return ChatKitStore(app)


@pytest.fixture
def ctx() -> Context:
    return Context(new_id("host-user"))


@pytest.fixture
def other_ctx() -> Context:
    return Context(new_id("host-user"))


def chatapp_side(app, external_id: str, work):
    """Run `work(chat_store, chatapp_user_id)` as chatapp's own fronts would."""
    with app.app_context():
        try:
            user = AccountStore(db.session).ensure_external_user(external_id)
            return work(chat_store(), user)
        finally:
            db.session.remove()


def make_thread(thread_id: str | None = None, created_at: datetime | None = None, **fields) -> ThreadMetadata:
    return ThreadMetadata(
        id=thread_id or new_id("thr"),
        created_at=created_at or datetime.now(),
        **fields,
    )


def user_message(thread_id: str, text: str, item_id: str | None = None, created_at: datetime | None = None) -> UserMessageItem:
    return UserMessageItem(
        id=item_id or new_id("msg"),
        thread_id=thread_id,
        created_at=created_at or datetime.now(),
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )


def every_item_variant(thread_id: str) -> list[ThreadItem]:
    """One or more items of each ThreadItem variant, with their optional parts filled in."""
    now = datetime.now()  # naive, as the SDK itself stamps items
    at = lambda seconds: now + timedelta(seconds=seconds)  # noqa: E731
    file = FileAttachment(id=new_id("atc"), name="notes.txt", mime_type="text/plain", thread_id=thread_id, metadata={"source": "upload"})
    image = ImageAttachment(
        id=new_id("atc"), name="plot.png", mime_type="image/png", preview_url="https://example.com/plot.png", thread_id=thread_id
    )
    url = URLSource(title="Docs", url="https://example.com/docs", attribution="example.com", description="d", timestamp="2024", group="g")
    return [
        UserMessageItem(
            id=new_id("msg"),
            thread_id=thread_id,
            created_at=at(0),
            content=[
                UserMessageTextContent(text="Look at "),
                UserMessageTagContent(id="tag1", text="@report", data={"kind": "doc", "n": 1}, group="docs", interactive=True),
            ],
            attachments=[file, image],
            quoted_text="an earlier line",
            inference_options=InferenceOptions(tool_choice=ToolChoice(id="search"), model="gpt-test"),
        ),
        AssistantMessageItem(
            id=new_id("msg"),
            thread_id=thread_id,
            created_at=at(1),
            content=[
                AssistantMessageContent(
                    text="First part.",
                    annotations=[
                        Annotation(source=url, index=3),
                        Annotation(source=FileSource(title="File", filename="notes.txt")),
                        Annotation(source=EntitySource(title="Ent", id="e1", icon="atom", label="L", data={"x": [1, 2]})),
                    ],
                ),
                AssistantMessageContent(text="Second part."),
            ],
        ),
        ClientToolCallItem(
            id=new_id("tc"), thread_id=thread_id, created_at=at(2), call_id="call_1", name="get_weather", arguments={"city": "Paris"}
        ),
        ClientToolCallItem(
            id=new_id("tc"),
            thread_id=thread_id,
            created_at=at(3),
            status="completed",
            call_id="call_2",
            name="get_weather",
            arguments={"city": "Oslo", "units": ["c"]},
            output={"temperature": -3.5, "sky": None},
        ),
        WidgetItem(
            id=new_id("wdg"),
            thread_id=thread_id,
            created_at=at(4),
            widget=Card(children=[Col(padding={"x": 4, "y": 3}, children=[Text(value="Title", weight="medium"), Text(value="body")])]),
            copy_text="Title body",
        ),
        WidgetItem(id=new_id("wdg"), thread_id=thread_id, created_at=at(4), widget=TEMPLATE.build({"name": "Ann"})),
        WidgetItem(
            id=new_id("wdg"),
            thread_id=thread_id,
            created_at=at(4),
            widget=Card(children=[Text(value="strict"), DynamicWidgetComponent(type="Badge", label="dyn", extra={"a": 1})]),
        ),
        GeneratedImageItem(id=new_id("img"), thread_id=thread_id, created_at=at(5)),
        GeneratedImageItem(
            id=new_id("img"), thread_id=thread_id, created_at=at(6), image=GeneratedImage(id="gi1", url="https://example.com/gi1.png")
        ),
        StructuredInputItem(
            id=new_id("si"),
            thread_id=thread_id,
            created_at=at(7),
            status="answered",
            inputs=[
                StructuredInputMultipleChoice(
                    id="q1",
                    question="Which?",
                    options=[StructuredInputMultipleChoiceOption(value="a"), StructuredInputMultipleChoiceOption(value="b")],
                    multiple=True,
                    answer=StructuredInputAnswer(values=["a", "b"]),
                ),
                StructuredInputFreeform(id="q2", question="Why?", description="say", answer=StructuredInputAnswer(skipped=True)),
            ],
        ),
        WorkflowItem(
            id=new_id("wf"),
            thread_id=thread_id,
            created_at=at(8),
            workflow=Workflow(
                type="reasoning",
                tasks=[
                    ThoughtTask(content="thinking", title="T", status_indicator="complete"),
                    SearchTask(title="S", title_query="q", queries=["q1", "q2"], sources=[url]),
                    CustomTask(title="C", icon="atom", content="c"),
                    FileTask(sources=[FileSource(title="F", filename="f.pdf")]),
                    ImageTask(title="I", status_indicator="loading"),
                ],
                summary=DurationSummary(duration=12),
                expanded=True,
            ),
        ),
        WorkflowItem(
            id=new_id("wf"),
            thread_id=thread_id,
            created_at=at(9),
            workflow=Workflow(type="custom", tasks=[], summary=CustomSummary(title="Done", icon="check")),
        ),
        TaskItem(id=new_id("tsk"), thread_id=thread_id, created_at=at(10), task=CustomTask(title="Booked", content="ok")),
        HiddenContextItem(id=new_id("hc"), thread_id=thread_id, created_at=at(11), content={"memo": ["a", 1, None, True]}),
        SDKHiddenContextItem(id=new_id("shcx"), thread_id=thread_id, created_at=at(12), content="The user cancelled the stream."),
        # Aware timestamps in another zone come back equal too.
        EndOfTurnItem(id=new_id("eot"), thread_id=thread_id, created_at=datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))),
    ]


def variant_names() -> set[str]:
    union = typing.get_args(typing.get_args(ThreadItem)[0])
    return {cls.model_fields["type"].default for cls in union}

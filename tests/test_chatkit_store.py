"""The ChatKit Store adapter (chatapp.integrations.chatkit) on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import threading
import typing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import make_url

pytest.importorskip("chatkit", reason="openai-chatkit is not installed (requirements-chatkit.txt)")

from chatkit.store import NotFoundError, Store  # noqa: E402
from chatkit.types import (  # noqa: E402
    Annotation,
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    ClosedStatus,
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
    LockedStatus,
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
from chatkit.widgets import Card, Col, DynamicWidgetComponent, DynamicWidgetRoot, Text, WidgetTemplate  # noqa: E402

from chatapp.store.accounts import AccountStore  # noqa: E402
from chatapp.errors import Conflict, InvalidRequest, NotFound  # noqa: E402
from chatapp.extensions import db  # noqa: E402
from chatapp.integrations.chatkit import ChatKitStore, MissingUserId  # noqa: E402
from chatapp.services import chat_store  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Loading any stored Card/Text warns in the SDK itself; the tests build a few on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Direct usage of named widget classes:DeprecationWarning")
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


# -- basics ----------------------------------------------------------------------------


def test_implements_every_method_of_the_sdk_store(store):
    assert isinstance(store, Store)
    assert not ChatKitStore.__abstractmethods__
    assert Store.__abstractmethods__ <= set(vars(ChatKitStore))


# -- threads ---------------------------------------------------------------------------


async def test_thread_round_trips_with_null_title_status_and_metadata(app, store, ctx):
    created = datetime.now()
    thread = make_thread(
        created_at=created,
        title=None,
        status=LockedStatus(reason="read only"),
        allowed_image_domains=["example.com"],
        metadata={"project": {"id": 7, "tags": ["a", "b"]}, "chatkit": "a key the adapter also uses"},
    )
    await store.save_thread(thread, ctx)

    loaded = await store.load_thread(thread.id, ctx)
    assert loaded == thread
    assert loaded.title is None
    assert loaded.created_at == created  # the SDK's own created_at, naive as it was given

    record = chatapp_side(app, ctx.user_id, lambda s, u: s.get_thread(u, thread.id))
    assert record.title is None
    assert record.created_at == created.astimezone(timezone.utc)


async def test_save_thread_is_an_upsert(app, store, ctx):
    thread = make_thread(title="First")
    await store.save_thread(thread, ctx)
    thread.title = "Renamed"
    thread.status = ClosedStatus(reason="done")
    thread.metadata = {"v": 2}
    await store.save_thread(thread, ctx)

    assert await store.load_thread(thread.id, ctx) == thread
    page = await store.load_threads(10, None, "asc", ctx)
    assert [t.id for t in page.data] == [thread.id]
    assert chatapp_side(app, ctx.user_id, lambda s, u: s.get_thread(u, thread.id).title) == "Renamed"


async def test_a_whole_thread_object_saves_only_its_metadata(store, ctx):
    from chatkit.types import Page, Thread

    item = user_message("t", "hi")
    thread = Thread(id=new_id("thr"), created_at=datetime.now(), title="T", items=Page(data=[item]))
    await store.save_thread(thread, ctx)
    loaded = await store.load_thread(thread.id, ctx)
    assert type(loaded) is ThreadMetadata
    assert loaded == ThreadMetadata(**thread.model_dump(exclude={"items"}))


async def test_titles_longer_than_the_column_round_trip_and_chatapp_renames_show(app, store, ctx):
    thread = make_thread(title="  " + "long title " * 30)
    await store.save_thread(thread, ctx)
    assert (await store.load_thread(thread.id, ctx)).title == thread.title
    shown = chatapp_side(app, ctx.user_id, lambda s, u: s.get_thread(u, thread.id).title)
    assert shown == thread.title.strip()[:200].strip()

    chatapp_side(app, ctx.user_id, lambda s, u: s.update_thread(u, thread.id, title="Renamed in chatapp"))
    assert (await store.load_thread(thread.id, ctx)).title == "Renamed in chatapp"


async def test_load_threads_orders_by_created_at_in_both_orders(store, ctx):
    base = datetime.now() - timedelta(days=1)
    threads = [make_thread(created_at=base + timedelta(minutes=i), title=f"t{i}") for i in range(5)]
    for index in (3, 0, 4, 1, 2):  # saved out of order: updated_at order differs
        await store.save_thread(threads[index], ctx)
    # New activity on the oldest thread must not move it: the SDK orders by created_at.
    await store.add_thread_item(threads[0].id, user_message(threads[0].id, "bump"), ctx)
    ids = [t.id for t in threads]

    async def pages(order: str) -> list[tuple[list[str], bool, str | None]]:
        seen, after = [], None
        while True:
            page = await store.load_threads(2, after, order, ctx)
            seen.append(([t.id for t in page.data], page.has_more, page.after))
            if not page.has_more:
                return seen
            after = page.after

    assert await pages("asc") == [(ids[0:2], True, ids[1]), (ids[2:4], True, ids[3]), (ids[4:], False, None)]
    desc = ids[::-1]
    assert await pages("desc") == [(desc[0:2], True, desc[1]), (desc[2:4], True, desc[3]), (desc[4:], False, None)]
    page = await store.load_threads(5, None, "asc", ctx)
    assert page.has_more is False and page.after is None
    assert [t.title for t in page.data] == [f"t{i}" for i in range(5)]


# -- items -----------------------------------------------------------------------------


async def test_every_item_variant_round_trips_field_for_field(store, ctx):
    thread = make_thread()
    await store.save_thread(thread, ctx)
    items = every_item_variant(thread.id)
    assert {item.type for item in items} == variant_names()  # no variant left out
    for item in items:
        await store.add_thread_item(thread.id, item, ctx)

    page = await store.load_thread_items(thread.id, None, 100, "asc", ctx)
    assert page.data == items
    assert type(page.data[5].widget) is DynamicWidgetRoot  # not reloaded as a strict Card
    assert page.data[5].widget.children[1].customField == [1, 2]
    assert type(page.data[6].widget.children[1]) is DynamicWidgetComponent
    assert [i.model_dump(mode="json") for i in page.data] == [i.model_dump(mode="json") for i in items]
    assert page.has_more is False and page.after is None
    for item in items:
        assert await store.load_item(thread.id, item.id, ctx) == item


async def test_messages_show_as_ordinary_chatapp_messages(app, store, ctx):
    thread = make_thread(title=None)
    await store.save_thread(thread, ctx)
    items = every_item_variant(thread.id)
    for item in items:
        await store.add_thread_item(thread.id, item, ctx)

    records = chatapp_side(app, ctx.user_id, lambda s, u: s.list_items(u, thread.id, limit=100).data)
    assert [r.id for r in records] == [i.id for i in items]
    user, assistant, *others = records
    assert (user.type, user.role, user.content) == ("message", "user", "Look at @report")
    assert user.metadata["chatkit"] == items[0].model_dump(mode="json")
    assert (assistant.type, assistant.role, assistant.content) == ("message", "assistant", "First part.\n\nSecond part.")
    assert [(r.type, r.role) for r in others] == [(i.type, None) for i in items[2:]]
    assert [r.content for r in others] == [i.model_dump(mode="json") for i in items[2:]]
    assert user.created_at == items[0].created_at.astimezone(timezone.utc)
    # auto_title is off: ChatKit's null title stays null in chatapp.
    assert chatapp_side(app, ctx.user_id, lambda s, u: s.get_thread(u, thread.id).title) is None


async def test_an_empty_assistant_message_is_stored_then_filled_in_place(app, store, ctx):
    thread = make_thread()
    await store.save_thread(thread, ctx)
    await store.add_thread_item(thread.id, user_message(thread.id, "question"), ctx)
    empty = AssistantMessageItem(id=new_id("msg"), thread_id=thread.id, created_at=datetime.now(), content=[])
    await store.add_thread_item(thread.id, empty, ctx)
    blank = AssistantMessageItem(
        id=new_id("msg"), thread_id=thread.id, created_at=datetime.now(), content=[AssistantMessageContent(text="  ")]
    )
    await store.add_thread_item(thread.id, blank, ctx)
    assert await store.load_item(thread.id, empty.id, ctx) == empty
    assert await store.load_item(thread.id, blank.id, ctx) == blank
    before = chatapp_side(app, ctx.user_id, lambda s, u: s.get_item(u, thread.id, empty.id))
    assert (before.type, before.role, before.content) == ("assistant_message", None, empty.model_dump(mode="json"))

    empty.content = [AssistantMessageContent(text="The answer.")]
    await store.save_item(thread.id, empty, ctx)
    assert await store.load_item(thread.id, empty.id, ctx) == empty
    after = chatapp_side(app, ctx.user_id, lambda s, u: s.get_item(u, thread.id, empty.id))
    assert (after.type, after.role, after.content, after.seq) == ("message", "assistant", "The answer.", before.seq)


async def test_save_item_and_add_thread_item_are_upserts(store, ctx):
    thread = make_thread()
    await store.save_thread(thread, ctx)
    first = user_message(thread.id, "one")
    saved_new = ClientToolCallItem(id=new_id("tc"), thread_id=thread.id, created_at=datetime.now(), call_id="c", name="n", arguments={})
    await store.add_thread_item(thread.id, first, ctx)
    await store.save_item(thread.id, saved_new, ctx)  # save_item of a new id appends it
    await store.add_thread_item(thread.id, first, ctx)  # a retried add changes nothing

    saved_new.status, saved_new.output = "completed", {"ok": True}
    await store.save_item(thread.id, saved_new, ctx)
    first.content = [UserMessageTextContent(text="one, edited")]
    await store.add_thread_item(thread.id, first, ctx)  # the same id again overwrites

    page = await store.load_thread_items(thread.id, None, 10, "asc", ctx)
    assert page.data == [first, saved_new]


async def test_load_thread_items_pages_by_seq_in_both_orders(store, ctx):
    thread = make_thread()
    await store.save_thread(thread, ctx)
    start = datetime.now()
    # created_at runs backwards: the order must still be the order of appending.
    items = [user_message(thread.id, f"m{i}", created_at=start - timedelta(seconds=i)) for i in range(5)]
    for item in items:
        await store.add_thread_item(thread.id, item, ctx)
    ids = [i.id for i in items]

    page = await store.load_thread_items(thread.id, None, 2, "asc", ctx)
    assert ([i.id for i in page.data], page.has_more, page.after) == (ids[0:2], True, ids[1])
    page = await store.load_thread_items(thread.id, page.after, 2, "asc", ctx)
    assert ([i.id for i in page.data], page.has_more, page.after) == (ids[2:4], True, ids[3])
    page = await store.load_thread_items(thread.id, page.after, 2, "asc", ctx)
    assert ([i.id for i in page.data], page.has_more, page.after) == (ids[4:], False, None)

    page = await store.load_thread_items(thread.id, None, 3, "desc", ctx)
    assert ([i.id for i in page.data], page.has_more, page.after) == (ids[:1:-1], True, ids[2])
    page = await store.load_thread_items(thread.id, page.after, 3, "desc", ctx)
    assert ([i.id for i in page.data], page.has_more, page.after) == ([ids[1], ids[0]], False, None)
    page = await store.load_thread_items(thread.id, ids[1], 3, "asc", ctx)
    assert [i.id for i in page.data] == ids[2:5] and page.has_more is False and page.after is None


async def test_messages_written_in_chatapp_show_in_chatkit(app, store, ctx):
    thread = make_thread()
    await store.save_thread(thread, ctx)

    def write(s, u):
        s.add_item(u, thread.id, role="user", content="typed in chatapp")
        s.add_item(u, thread.id, role="assistant", content="answered in chatapp")
        s.add_item(u, thread.id, type="note", content={"private": True})  # no ChatKit form

    chatapp_side(app, ctx.user_id, write)
    page = await store.load_thread_items(thread.id, None, 10, "asc", ctx)
    assert [type(i) for i in page.data] == [UserMessageItem, AssistantMessageItem]
    assert page.data[0].content == [UserMessageTextContent(text="typed in chatapp")]
    assert page.data[1].content == [AssistantMessageContent(text="answered in chatapp")]


# -- not found and isolation -----------------------------------------------------------


async def test_missing_threads_items_and_cursors_raise_not_found(store, ctx):
    thread = make_thread()
    await store.save_thread(thread, ctx)
    item = user_message(thread.id, "hi")
    await store.add_thread_item(thread.id, item, ctx)
    missing = new_id("thr")
    calls = [
        store.load_thread(missing, ctx),
        store.delete_thread(missing, ctx),
        store.add_thread_item(missing, user_message(missing, "x"), ctx),
        store.save_item(missing, user_message(missing, "x"), ctx),
        store.load_item(thread.id, "msg_missing", ctx),
        store.load_item(missing, item.id, ctx),
        store.delete_thread_item(thread.id, "msg_missing", ctx),
        store.load_thread_items(thread.id, "msg_missing", 10, "asc", ctx),
        store.load_threads(10, missing, "desc", ctx),
        store.load_attachment("atc_missing", ctx),
        store.delete_attachment("atc_missing", ctx),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as caught:
            await call
        assert isinstance(caught.value, NotFound)  # chatapp's handlers answer it as a 404
    # As the SDK's reference store: the items of a thread one cannot see are an empty page.
    empty = await store.load_thread_items(missing, None, 10, "asc", ctx)
    assert (empty.data, empty.has_more, empty.after) == ([], False, None)

    await store.delete_thread_item(thread.id, item.id, ctx)
    with pytest.raises(NotFoundError):
        await store.load_item(thread.id, item.id, ctx)
    await store.delete_thread(thread.id, ctx)
    with pytest.raises(NotFoundError):
        await store.load_thread(thread.id, ctx)


async def test_two_user_ids_are_isolated(app, store, ctx, other_ctx):
    thread = make_thread(title="mine")
    await store.save_thread(thread, ctx)
    item = user_message(thread.id, "secret")
    await store.add_thread_item(thread.id, item, ctx)
    attachment = FileAttachment(id=new_id("atc"), name="a.txt", mime_type="text/plain")
    await store.save_attachment(attachment, ctx)

    for call in (
        store.load_thread(thread.id, other_ctx),
        store.load_item(thread.id, item.id, other_ctx),
        store.add_thread_item(thread.id, user_message(thread.id, "intruder"), other_ctx),
        store.save_item(thread.id, user_message(thread.id, "intruder", item_id=item.id), other_ctx),
        store.delete_thread_item(thread.id, item.id, other_ctx),
        store.delete_thread(thread.id, other_ctx),
        store.load_attachment(attachment.id, other_ctx),
        store.delete_attachment(attachment.id, other_ctx),
    ):
        with pytest.raises(NotFoundError):
            await call
    with pytest.raises(Conflict):  # the id is taken; the other user cannot overwrite it
        await store.save_thread(make_thread(thread.id, title="hijack"), other_ctx)
    with pytest.raises(Conflict):
        await store.save_attachment(attachment.model_copy(update={"name": "hijack"}), other_ctx)
    assert (await store.load_threads(10, None, "asc", other_ctx)).data == []
    assert (await store.load_thread_items(thread.id, None, 10, "asc", other_ctx)).data == []  # as the reference store

    # The owner still sees everything unchanged, whichever context shape carries the id.
    for shape in (ctx, {"user_id": ctx.user_id}, {"user": {"id": ctx.user_id}}):
        assert await store.load_thread(thread.id, shape) == thread
        assert (await store.load_thread_items(thread.id, None, 10, "asc", shape)).data == [item]
        assert await store.load_attachment(attachment.id, shape) == attachment

    owners = {
        chatapp_side(app, external, lambda s, u: u) for external in (ctx.user_id, other_ctx.user_id)
    }
    assert len(owners) == 2  # one provisioned chatapp user per host user id


@pytest.mark.parametrize(
    "context", [None, {}, {"user_id": ""}, {"user": {}}, {"user": "someone"}, object(), Context("  "), {"user_id": True}]
)
async def test_a_context_without_a_user_id_is_a_clear_error(store, context):
    with pytest.raises(MissingUserId) as caught:
        await store.load_threads(10, None, "asc", context)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, InvalidRequest)
    assert "no user id" in str(caught.value)


async def test_integer_user_ids_are_accepted(store):
    context = {"user_id": int.from_bytes(os.urandom(4), "big")}
    thread = make_thread()
    await store.save_thread(thread, context)
    assert await store.load_thread(thread.id, {"user": {"id": str(context["user_id"])}}) == thread


# -- attachments -----------------------------------------------------------------------


async def test_file_and_image_attachments_are_saved_loaded_and_deleted(app, store, ctx):
    file = FileAttachment(id=new_id("atc"), name="report.pdf", mime_type="application/pdf", metadata={"source": "test"})
    image = ImageAttachment(id=new_id("atc"), name="p.png", mime_type="image/png", preview_url="https://example.com/p.png")
    for attachment in (file, image):
        await store.save_attachment(attachment, ctx)
        assert await store.load_attachment(attachment.id, ctx) == attachment

    thread = make_thread()
    await store.save_thread(thread, ctx)
    attached = image.model_copy(update={"thread_id": thread.id})
    await store.save_attachment(attached, ctx)  # an upsert, as the server does once the message exists
    assert await store.load_attachment(image.id, ctx) == attached
    record = chatapp_side(app, ctx.user_id, lambda s, u: s.get_attachment(u, image.id))
    assert (record.filename, record.content_type, record.thread_id) == ("p.png", "image/png", thread.id)

    await store.delete_attachment(file.id, ctx)
    with pytest.raises(NotFoundError):
        await store.load_attachment(file.id, ctx)
    assert await store.load_attachment(image.id, ctx) == attached
    await store.delete_thread(thread.id, ctx)  # takes the attachments recorded for it along
    with pytest.raises(NotFoundError):
        await store.load_attachment(image.id, ctx)


async def test_an_attachment_cannot_point_at_another_users_thread(store, ctx, other_ctx):
    thread = make_thread()
    await store.save_thread(thread, other_ctx)
    attachment = FileAttachment(id=new_id("atc"), name="a.txt", mime_type="text/plain", thread_id=thread.id)
    with pytest.raises(NotFoundError):
        await store.save_attachment(attachment, ctx)


# -- ids -------------------------------------------------------------------------------


async def test_default_id_generators_use_the_sdk_prefixes(store, ctx):
    thread_id = store.generate_thread_id(ctx)
    assert thread_id.startswith("thr_")
    thread = make_thread(thread_id)
    expected = {"message": "msg_", "tool_call": "tc_", "task": "tsk_", "workflow": "wf_", "sdk_hidden_context": "shcx_"}
    for kind, prefix in expected.items():
        assert store.generate_item_id(kind, thread, ctx).startswith(prefix)

    await store.save_thread(thread, ctx)
    item = user_message(thread_id, "hi", item_id=store.generate_item_id("message", thread, ctx))
    await store.add_thread_item(thread_id, item, ctx)
    assert await store.load_item(thread_id, item.id, ctx) == item


async def test_overridden_id_generators_are_used(store, app, ctx):
    class CustomIds(ChatKitStore):
        counter = 0

        def generate_thread_id(self, context) -> str:
            self.counter += 1
            return f"thr_custom_{os.getpid()}_{self.counter}_{new_id('x')}"

        def generate_item_id(self, item_type, thread, context) -> str:
            self.counter += 1
            return f"{item_type}_custom_{self.counter}"

    custom = CustomIds(app)
    thread = make_thread(custom.generate_thread_id(ctx))
    assert thread.id.startswith("thr_custom_")
    item_id = custom.generate_item_id("message", thread, ctx)
    assert item_id == "message_custom_2"
    await custom.save_thread(thread, ctx)
    await custom.add_thread_item(thread.id, user_message(thread.id, "hi", item_id=item_id), ctx)
    assert [i.id for i in (await store.load_thread_items(thread.id, None, 5, "asc", ctx)).data] == [item_id]


# -- concurrency -----------------------------------------------------------------------


async def test_concurrent_add_thread_item_keeps_each_writers_order(app, store, ctx):
    thread = make_thread()
    await store.save_thread(thread, ctx)
    writers, per_writer = 4, 6

    async def writer(w: int) -> list[str]:
        ids = []
        for i in range(per_writer):
            item = user_message(thread.id, f"w{w} m{i}", item_id=f"msg_w{w}_{i}")
            await store.add_thread_item(thread.id, item, ctx)  # each add finishes before the next
            ids.append(item.id)
        return ids

    written = await asyncio.gather(*(writer(w) for w in range(writers)))
    page = await store.load_thread_items(thread.id, None, 100, "asc", ctx)
    stored = [i.id for i in page.data]
    assert sorted(stored) == sorted(sum(written, []))  # nothing lost or doubled
    for ids in written:
        assert [i for i in stored if i in ids] == ids
    desc = await store.load_thread_items(thread.id, None, 100, "desc", ctx)
    assert [i.id for i in desc.data] == stored[::-1]
    seqs = chatapp_side(app, ctx.user_id, lambda s, u: [r.seq for r in s.list_items(u, thread.id, limit=100).data])
    assert seqs == list(range(1, writers * per_writer + 1))


class HeldLock:
    """A write lock on the database held from outside chatapp, released once."""

    def __init__(self, app, thread_id: str):
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        self._released = threading.Lock()
        self.done = False
        if url.get_backend_name() == "sqlite":
            self.conn = sqlite3.connect(url.database, isolation_level=None, check_same_thread=False)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn = psycopg2.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
            with self.conn.cursor() as cur:
                cur.execute("SELECT id FROM threads WHERE id = %s FOR UPDATE", (thread_id,))

    def release(self) -> None:
        with self._released:
            if not self.done:
                self.done = True
                self.conn.rollback()
                self.conn.close()


async def test_a_waiting_store_call_does_not_block_the_event_loop(app, store, ctx):
    thread = make_thread()
    await store.save_thread(thread, ctx)
    lock = HeldLock(app, thread.id)
    safety = threading.Timer(10, lock.release)  # so a blocking adapter fails instead of hanging
    safety.start()
    try:
        task = asyncio.create_task(store.add_thread_item(thread.id, user_message(thread.id, "waits"), ctx))
        ticks = 0
        for _ in range(20):  # the loop keeps running other work while the add waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not task.done() and not lock.done
        await asyncio.to_thread(lock.release)
        await task
    finally:
        safety.cancel()
        lock.release()
    assert len((await store.load_thread_items(thread.id, None, 5, "asc", ctx)).data) == 1


# -- optional dependency ---------------------------------------------------------------


def test_chatapp_runs_without_openai_chatkit(tmp_path):
    script = f"""
import sys

class NoChatKit:
    def find_spec(self, name, path=None, target=None):
        if name == "chatkit" or name.startswith("chatkit."):
            raise ModuleNotFoundError(f"No module named {{name!r}}")

sys.meta_path.insert(0, NoChatKit())
from chatapp import create_app
import chatapp.integrations
app = create_app({{"DATABASE_URL": "sqlite:///{tmp_path}/x.db", "instance_path": "{tmp_path}", "SECRET_KEY": "chatapp-tests-only-secret-key-0123456789"}})
assert app.url_map is not None and "chatkit" not in sys.modules
try:
    import chatapp.integrations.chatkit
except ImportError as exc:
    print("adapter:", exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "adapter: chatapp.integrations.chatkit needs the optional openai-chatkit package" in result.stdout

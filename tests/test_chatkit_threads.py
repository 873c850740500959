"""The ChatKit Store adapter's threads, isolation, attachments and ids, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("chatkit", reason="openai-chatkit is not installed (requirements-chatkit.txt)")

from chatkit.store import NotFoundError, Store  # noqa: E402
from chatkit.types import (  # noqa: E402
    ClosedStatus,
    FileAttachment,
    ImageAttachment,
    LockedStatus,
    ThreadMetadata,
)

from chatapp.errors import Conflict, InvalidRequest, NotFound  # noqa: E402
from chatapp.integrations.chatkit import ChatKitStore, MissingUserId  # noqa: E402
from support.chatkit import (  # noqa: E402 - the fixtures store, ctx, other_ctx come from conftest
    Context,
    chatapp_side,
    make_thread,
    new_id,
    user_message,
)

pytestmark = pytest.mark.filterwarnings("ignore:Direct usage of named widget classes:DeprecationWarning")


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
    assert record.created_at == created.astimezone(UTC)


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

"""The ChatKit Store adapter's items, concurrency and optional dependency, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from sqlalchemy.engine import make_url

pytest.importorskip("chatkit", reason="openai-chatkit is not installed (requirements-chatkit.txt)")

from chatkit.types import (  # noqa: E402
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    UserMessageItem,
    UserMessageTextContent,
)
from chatkit.widgets import DynamicWidgetComponent, DynamicWidgetRoot  # noqa: E402

from support.chatkit import (  # noqa: E402 - the fixtures store, ctx, other_ctx come from conftest
    PROJECT_ROOT,
    chatapp_side,
    every_item_variant,
    make_thread,
    new_id,
    user_message,
    variant_names,
)

pytestmark = pytest.mark.filterwarnings("ignore:Direct usage of named widget classes:DeprecationWarning")


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
    assert user.created_at == items[0].created_at.astimezone(UTC)
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

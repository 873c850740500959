"""Bench data, written through chatapp's stores, except the 100,000-item thread (see seed_bulk.py).

One user with an API token owns: a 1,000-item thread (the read target), 1,000 threads (the
append targets), a 100-item thread and a 100,000-item thread (pagination flatness).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from bench.common import chatapp_app
from bench.seed_bulk import bulk_fill_thread

READ_THREAD_ITEMS = 1_000
APPEND_THREADS = 1_000
SMALL_THREAD_ITEMS = 100
BIG_THREAD_ITEMS = 100_000
# The deep page is the one after the item with this seq, newest first: the oldest end of history.
DEEP_AFTER_SEQ = 60


def message_text(n: int) -> str:
    """A message of about 200 characters, like a short chat turn."""
    return f"Message {n}: " + ("the quick brown fox jumps over the lazy dog; " * 4).strip()


@dataclass
class Seeded:
    user_id: str
    token: str
    read_thread: str
    append_threads: list[str]
    small_thread: str
    big_thread: str
    small_deep_after: str
    big_deep_after: str
    seconds: float

    def as_dict(self) -> dict:
        data = asdict(self)
        data["append_threads"] = len(self.append_threads)
        data.pop("token")
        return data


def seed() -> Seeded:
    from chatapp.extensions import db
    from chatapp.store import ChatStore
    from chatapp.store.accounts import AccountStore

    started = time.perf_counter()
    app = chatapp_app()
    with app.app_context():
        accounts = AccountStore(db.session)
        user = accounts.create_user("bench@example.com", "bench password 123")
        _, token = accounts.create_token(user.id, "bench")
        store = ChatStore(db.session)

        read_thread = store.create_thread(user.id, title="read target").id
        _fill(store, user.id, read_thread, READ_THREAD_ITEMS)
        append_threads = [
            store.create_thread(user.id, title=f"append target {n}").id for n in range(APPEND_THREADS)
        ]
        small_thread = store.create_thread(user.id, title="100 items").id
        small_ids = _fill(store, user.id, small_thread, SMALL_THREAD_ITEMS)
        big_thread = store.create_thread(user.id, title="100,000 items").id
        db.session.remove()
        db.engine.dispose()

    big_deep_after = bulk_fill_thread(big_thread, BIG_THREAD_ITEMS, message_text)
    return Seeded(
        user_id=user.id,
        token=token,
        read_thread=read_thread,
        append_threads=append_threads,
        small_thread=small_thread,
        big_thread=big_thread,
        small_deep_after=small_ids[DEEP_AFTER_SEQ - 1],
        big_deep_after=big_deep_after(DEEP_AFTER_SEQ),
        seconds=time.perf_counter() - started,
    )


def _fill(store, user_id: str, thread_id: str, count: int) -> list[str]:
    """Append `count` alternating user/assistant messages; returns their ids in seq order."""
    ids = []
    for n in range(1, count + 1):
        record, _ = store.add_item(
            user_id,
            thread_id,
            role="user" if n % 2 else "assistant",
            content=message_text(n),
        )
        ids.append(record.id)
    return ids

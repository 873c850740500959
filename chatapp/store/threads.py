"""Threads: create, upsert, update, read, list (keyset pages) and delete, scoped to their owner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from ..errors import Conflict, InvalidRequest
from ..ids import new_thread_id
from ..models import utcnow
from ..rules import check_id, check_limit, check_metadata, check_order, check_title, known_id
from .base import StoreBase
from .records import THREAD_COLUMNS, UNSET, Page, ThreadRecord, threads
from .transactions import reads, run

ThreadSort = Literal["updated_at", "created_at"]


def owned_thread(user_id: str, thread_id: str) -> sa.ColumnElement[bool]:
    """The condition that scopes a thread to its owner; every thread statement carries it."""
    known_id(thread_id, "Thread")
    return sa.and_(threads.c.id == thread_id, threads.c.user_id == user_id)


class ThreadStore(StoreBase):
    """The thread methods of ChatStore."""

    def create_thread(
        self,
        user_id: str,
        *,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        thread_id: str | None = None,
        created_at: datetime | None = None,
    ) -> ThreadRecord:
        """A new thread; a chosen `thread_id` that exists already is a conflict."""
        thread_id = check_id(thread_id, "id") if thread_id is not None else new_thread_id()
        now = utcnow()
        created_at = created_at or now
        stmt = (
            self._insert(threads)
            .values(
                id=thread_id,
                user_id=user_id,
                title=check_title(title),
                metadata=check_metadata(metadata),
                created_at=created_at,
                updated_at=now,
                last_seq=0,
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(*THREAD_COLUMNS)
        )

        def insert() -> sa.Row:
            row = self._execute(stmt).first()
            if row is None:  # taken; by this very call when its first attempt's answer was lost
                row = self._execute(sa.select(*THREAD_COLUMNS).where(owned_thread(user_id, thread_id))).first()
                if row is None or row.created_at != created_at:
                    raise Conflict(f"A thread with id {thread_id} exists already.", {"field": "id"})
            return row

        return ThreadRecord.from_row(run(self.session, insert, write=True, retry=True, user_id=user_id))

    def save_thread(
        self,
        user_id: str,
        thread_id: str,
        *,
        title: str | None,
        metadata: dict[str, Any] | None,
        created_at: datetime | None = None,
    ) -> ThreadRecord:
        """Insert or overwrite the thread's title and metadata (an upsert)."""
        check_id(thread_id, "id")
        now = utcnow()
        insert = self._insert(threads)
        values = {"title": check_title(title), "metadata": check_metadata(metadata)}
        update = dict(values, updated_at=now)
        if created_at is not None:
            update["created_at"] = created_at
        stmt = (
            insert.values(
                id=thread_id,
                user_id=user_id,
                created_at=created_at or now,
                updated_at=now,
                last_seq=0,
                **values,
            )
            .on_conflict_do_update(
                index_elements=["id"],
                set_=update,
                where=threads.c.user_id == insert.excluded.user_id,
            )
            .returning(*THREAD_COLUMNS)
        )
        row = run(self.session, lambda: self._execute(stmt).first(), write=True, retry=True, user_id=user_id)
        if row is None:  # the id belongs to another user
            raise Conflict(f"A thread with id {thread_id} exists already.", {"field": "id"})
        return ThreadRecord.from_row(row)

    def update_thread(
        self, user_id: str, thread_id: str, *, title: Any = UNSET, metadata: Any = UNSET
    ) -> ThreadRecord:
        """Change the title and/or metadata of an existing thread."""
        values: dict[str, Any] = {"updated_at": utcnow()}
        if title is not UNSET:
            values["title"] = check_title(title)
        if metadata is not UNSET:
            values["metadata"] = check_metadata(metadata)
        stmt = threads.update().where(owned_thread(user_id, thread_id)).values(**values).returning(*THREAD_COLUMNS)
        return self._write_one(user_id, ThreadRecord, stmt, "Thread")

    @reads
    def get_thread(self, user_id: str, thread_id: str) -> ThreadRecord:
        return self._one(ThreadRecord, sa.select(*THREAD_COLUMNS).where(owned_thread(user_id, thread_id)), "Thread")

    @reads
    def list_threads(
        self,
        user_id: str,
        *,
        limit: int = 20,
        after: str | None = None,
        order: str = "desc",
        sort: ThreadSort = "updated_at",
    ) -> Page[ThreadRecord]:
        """The user's threads by `sort` time then id; `after` is the last id of the previous page."""
        check_limit(limit)
        check_order(order)
        if sort not in ("updated_at", "created_at"):
            raise InvalidRequest("sort must be 'updated_at' or 'created_at'", {"field": "sort"})
        key = threads.c[sort]
        stmt = sa.select(*THREAD_COLUMNS).where(threads.c.user_id == user_id)
        if after is not None:
            check_id(after, "after")
            anchor = sa.select(key).where(owned_thread(user_id, after)).scalar_subquery()
            if order == "desc":
                stmt = stmt.where(sa.or_(key < anchor, sa.and_(key == anchor, threads.c.id < after)))
            else:
                stmt = stmt.where(sa.or_(key > anchor, sa.and_(key == anchor, threads.c.id > after)))
        direction = sa.desc if order == "desc" else sa.asc
        stmt = stmt.order_by(direction(key), direction(threads.c.id)).limit(limit + 1)
        rows = self._execute(stmt).all()
        if not rows and after is not None:
            self._require_thread_cursor(user_id, after)
        return self._page([ThreadRecord.from_row(row) for row in rows], limit)

    def iter_threads(self, user_id: str, *, page_size: int = 100) -> Iterator[ThreadRecord]:
        """Every thread of the user, oldest first, a batch (one statement) at a time.

        Batches follow the last (created_at, id) seen, so threads deleted during the walk are
        not an error and threads renamed or active meanwhile keep their place.
        """
        after: tuple[datetime, str] | None = None
        while True:
            batch = self._thread_batch(user_id, after, page_size)
            yield from batch
            if len(batch) < page_size:
                return
            after = (batch[-1].created_at, batch[-1].id)

    @reads
    def _thread_batch(self, user_id: str, after: tuple[datetime, str] | None, limit: int) -> list[ThreadRecord]:
        stmt = sa.select(*THREAD_COLUMNS).where(threads.c.user_id == user_id)
        if after is not None:
            stmt = stmt.where(sa.tuple_(threads.c.created_at, threads.c.id) > sa.tuple_(
                sa.literal(after[0], threads.c.created_at.type), sa.literal(after[1])
            ))
        stmt = stmt.order_by(threads.c.created_at, threads.c.id).limit(limit)
        return [ThreadRecord.from_row(row) for row in self._execute(stmt).all()]

    def _require_thread_cursor(self, user_id: str, after: str) -> None:
        if self._execute(sa.select(threads.c.id).where(owned_thread(user_id, after))).first() is None:
            raise InvalidRequest("Unknown cursor: no such thread for `after`.", {"field": "after"})

    def delete_thread(self, user_id: str, thread_id: str) -> None:
        """Delete the thread with its items and attachments (ON DELETE CASCADE)."""
        self._delete(user_id, threads.delete().where(owned_thread(user_id, thread_id)), "Thread")

"""Thread items: append (one statement on PostgreSQL), overwrite, update, read, page and delete."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from ..errors import Conflict, InvalidRequest, NotFound
from ..ids import new_item_id
from ..models import IdType, utcnow
from ..rules import check_id, check_limit, check_metadata, check_order, check_role, check_storable, check_type, known_id
from .appends import APPEND_ITEM
from .base import StoreBase
from .json_pages import ITEM_PAGE_STATEMENTS, page_body
from .records import ITEM_COLUMNS, UNSET, ItemRecord, Page, items, threads
from .threads import owned_thread
from .transactions import on_primary, reads, run

TITLE_FROM_MESSAGE_CHARS = 80
MAX_BATCH = 1000  # items per statement when walking a whole thread


def owned_item(user_id: str, thread_id: str, item_id: str) -> sa.ColumnElement[bool]:
    """An item of a thread the user owns (the owner check as a subquery on the thread)."""
    owned = sa.select(threads.c.id).where(owned_thread(user_id, thread_id))
    known_id(item_id, "Item")
    return sa.and_(items.c.thread_id == thread_id, items.c.id == item_id, items.c.thread_id.in_(owned))


def title_from(content: str) -> str:
    """A new chat's title: the first line of its first user message, clipped."""
    first_line = content.strip().splitlines()[0] if content.strip() else ""
    if len(first_line) > TITLE_FROM_MESSAGE_CHARS:
        first_line = first_line[: TITLE_FROM_MESSAGE_CHARS - 1].rstrip() + "…"
    return first_line


def _item_exists(thread_id: str, item_id: str) -> sa.Exists:
    return sa.exists().where(items.c.thread_id == thread_id, items.c.id == item_id)


def _unknown_parent() -> InvalidRequest:
    return InvalidRequest("parent_id must be an item of this thread.", {"field": "parent_id"})


def _json(value: Any) -> str:
    """A JSON document for a jsonb parameter (the values were checked as storable already)."""
    return orjson.dumps(value).decode()


class ItemStore(StoreBase):
    """The item methods of ChatStore."""

    def add_item(
        self,
        user_id: str,
        thread_id: str,
        *,
        content: Any,
        role: str | None = None,
        type: str = "message",
        metadata: dict[str, Any] | None = None,
        item_id: str | None = None,
        created_at: datetime | None = None,
        auto_title: bool = True,
        parent_id: Any = UNSET,
    ) -> tuple[ItemRecord, bool]:
        """Append an item; returns it and whether it was created just now.

        The seq comes from the thread's counter, bumped under the thread row's lock together with
        the insert (PostgreSQL: one call of chatapp_append_item(); SQLite: UPDATE then INSERT in
        one transaction), so concurrent appends queue, commit in seq order and never share or
        skip a seq. A re-sent `item_id` bumps nothing: with the same body it returns the stored
        item (created=False), with another body it is a conflict. The id and timestamp are fixed
        before the first attempt, so a retry on a fresh connection cannot store the item twice.

        The item follows `parent_id` (an item of the thread; None: it starts a new first item),
        by default the thread's leaf, and becomes the leaf: see branches.py.
        """
        metadata = self.check_item(type, role, content, metadata)
        item_id = check_id(item_id, "id") if item_id is not None else new_item_id(type)
        if parent_id is not UNSET and parent_id is not None:
            check_id(parent_id, "parent_id")
        now = utcnow()
        title = title_from(content) if auto_title and type == "message" and role == "user" else None
        values = {
            "user_id": user_id,
            "thread_id": thread_id,
            "id": item_id,
            "type": type,
            "role": role,
            "content": content,
            "metadata": metadata,
            "created_at": created_at or now,
            "now": now,
            "title": title or None,
            "parent_id": None if parent_id is UNSET else parent_id,
            "parent_given": parent_id is not UNSET,
        }
        append = self._append_postgres if self._postgres else self._append_sqlite
        return run(self.session, lambda: append(values), write=True, retry=True, user_id=user_id)

    def _append_postgres(self, values: dict[str, Any]) -> tuple[ItemRecord, bool]:
        params = dict(values, content=_json(values["content"]), metadata=_json(values["metadata"]))
        row = self._execute(APPEND_ITEM, params).first()
        if row is None:
            raise NotFound("Thread not found.")
        if row.outcome == "no_parent":
            raise _unknown_parent()
        if row.outcome == "created":
            return self._appended(values, row.seq, row.parent_id), True
        existing = ItemRecord(
            values["id"], values["thread_id"], row.seq, row.type, row.role, row.content, row.metadata, row.created_at,
            row.parent_id,
        )
        return self._resent(values, existing, row.same_body)

    def _append_sqlite(self, values: dict[str, Any]) -> tuple[ItemRecord, bool]:
        user_id, thread_id, item_id = values["user_id"], values["thread_id"], values["id"]
        given, parent_id = values["parent_given"], values["parent_id"]
        # INSERT ... SELECT from the thread row: a write statement takes SQLite's write lock
        # before it reads, so no other writer can add this id, bump the counter or move the
        # leaf between the checks and the insert. The UPDATE then moves the counter and leaf.
        parent: Any = sa.literal(parent_id, IdType) if given else threads.c.leaf_id
        conditions = [owned_thread(user_id, thread_id), ~_item_exists(thread_id, item_id)]
        if given and parent_id is not None:
            conditions.append(_item_exists(thread_id, parent_id))
        fields = {name: values[name] for name in ItemRecord.field_names() if name not in ("seq", "parent_id")}
        source = sa.select(
            *(sa.literal(value, items.c[name].type).label(name) for name, value in fields.items()),
            (threads.c.last_seq + 1).label("seq"),
            parent.label("parent_id"),
        ).where(*conditions)
        inserted = self._execute(
            items.insert().from_select([*fields, "seq", "parent_id"], source).returning(items.c.seq, items.c.parent_id)
        ).first()
        if inserted is None:
            return self._not_appended_sqlite(values)
        bump: dict[str, Any] = {"last_seq": inserted.seq, "updated_at": values["now"], "leaf_id": item_id}
        if values["title"]:
            bump["title"] = sa.func.coalesce(threads.c.title, values["title"])
        self._execute(threads.update().where(threads.c.id == thread_id).values(**bump))
        return self._appended(values, inserted.seq, inserted.parent_id), True

    def _not_appended_sqlite(self, values: dict[str, Any]) -> tuple[ItemRecord, bool]:
        """Why the INSERT added nothing: a re-sent id, a missing parent, or no such thread."""
        user_id, thread_id = values["user_id"], values["thread_id"]
        row = self._execute(
            sa.select(*ITEM_COLUMNS)
            .join(threads, threads.c.id == items.c.thread_id)
            .where(items.c.thread_id == thread_id, items.c.id == values["id"], threads.c.user_id == user_id)
        ).first()
        if row is not None:
            existing = ItemRecord.from_row(row)
            return self._resent(values, existing, self._same_body(existing, values))
        self.get_thread(user_id, thread_id)  # type: ignore[attr-defined] - NotFound: no such thread
        raise _unknown_parent()

    @staticmethod
    def _appended(values: dict[str, Any], seq: int, parent_id: str | None) -> ItemRecord:
        fields = {name: values[name] for name in ItemRecord.field_names() if name not in ("seq", "parent_id")}
        return ItemRecord(**fields, seq=seq, parent_id=parent_id)

    @staticmethod
    def _same_body(existing: ItemRecord, values: dict[str, Any]) -> bool:
        same_parent = not values["parent_given"] or existing.parent_id == values["parent_id"]
        return same_parent and (existing.type, existing.role, existing.content, existing.metadata) == (
            values["type"], values["role"], values["content"], values["metadata"],
        )

    @staticmethod
    def _resent(values: dict[str, Any], existing: ItemRecord, same_body: bool) -> tuple[ItemRecord, bool]:
        """The answer for an append whose id exists: the stored item, or a conflict."""
        if not same_body:
            raise Conflict(f"Item {values['id']} exists in this thread with a different body.", {"field": "id"})
        # Stored with this very timestamp: this call's own first attempt, whose answer was lost.
        return existing, existing.created_at == values["created_at"]

    def save_item(
        self,
        user_id: str,
        thread_id: str,
        item_id: str,
        *,
        content: Any,
        role: str | None = None,
        type: str = "message",
        metadata: dict[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> ItemRecord:
        """Overwrite the item in place (keeping its seq), or append it when it is new."""
        metadata = self.check_item(type, role, content, metadata)
        check_id(item_id, "id")
        values: dict[str, Any] = {"type": type, "role": role, "content": content, "metadata": metadata}
        if created_at is not None:
            values["created_at"] = created_at
        with self.transaction(user_id):
            row = self._update_item_row(user_id, thread_id, item_id, values)
            if row is not None:
                return ItemRecord.from_row(row)
            try:
                record, _ = self.add_item(
                    user_id, thread_id, content=content, role=role, type=type, metadata=metadata,
                    item_id=item_id, created_at=created_at, auto_title=False,
                )
                return record
            except Conflict:  # a concurrent save inserted it first: overwrite that
                row = self._update_item_row(user_id, thread_id, item_id, values)
                if row is None:
                    raise
                return ItemRecord.from_row(row)

    def update_item(
        self, user_id: str, thread_id: str, item_id: str, *, content: Any = UNSET, metadata: Any = UNSET
    ) -> ItemRecord:
        """Change an item's content and/or metadata; its seq, type and role stay."""
        with on_primary(self.session):  # the item as the write will find it
            current = self.get_item(user_id, thread_id, item_id)
        values: dict[str, Any] = {}
        if content is not UNSET:
            values["content"] = content
        if metadata is not UNSET:
            values["metadata"] = check_metadata(metadata)
        self.check_item(
            current.type, current.role, values.get("content", current.content), values.get("metadata", current.metadata)
        )
        if not values:
            return current
        statement = items.update().where(owned_item(user_id, thread_id, item_id)).values(**values).returning(*ITEM_COLUMNS)
        return self._write_one(user_id, ItemRecord, statement, "Item")

    def _update_item_row(self, user_id: str, thread_id: str, item_id: str, values: dict[str, Any]) -> sa.Row | None:
        """Inside a unit of work (save_item): the UPDATE of one item, RETURNING it, or None."""
        statement = items.update().where(owned_item(user_id, thread_id, item_id)).values(**values).returning(*ITEM_COLUMNS)
        return run(self.session, lambda: self._execute(statement).first(), write=True, retry=False, user_id=user_id)

    @reads
    def get_item(self, user_id: str, thread_id: str, item_id: str) -> ItemRecord:
        return self._load_item(user_id, thread_id, item_id)

    def _load_item(self, user_id: str, thread_id: str, item_id: str) -> ItemRecord:
        statement = (
            sa.select(*ITEM_COLUMNS)
            .join(threads, threads.c.id == items.c.thread_id)
            .where(items.c.thread_id == thread_id, items.c.id == item_id, threads.c.user_id == user_id)
        )
        return self._one(ItemRecord, statement, "Item")

    @reads
    def list_items(
        self,
        user_id: str,
        thread_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        order: str = "asc",
    ) -> Page[ItemRecord]:
        """The thread's items by seq; `after` is the last item id of the previous page.

        One statement on the common path: the owner check is a join, not a separate query.
        """
        check_limit(limit)
        check_order(order)
        self._check_page_ids(thread_id, after)
        stmt = (
            sa.select(*ITEM_COLUMNS)
            .join(threads, threads.c.id == items.c.thread_id)
            .where(items.c.thread_id == thread_id, threads.c.user_id == user_id)
        )
        if after is not None:
            anchor = sa.select(items.c.seq).where(items.c.thread_id == thread_id, items.c.id == after).scalar_subquery()
            stmt = stmt.where(items.c.seq > anchor if order == "asc" else items.c.seq < anchor)
        direction = sa.asc if order == "asc" else sa.desc
        rows = self._execute(stmt.order_by(direction(items.c.seq)).limit(limit + 1)).all()
        if not rows:
            self._explain_empty_page(user_id, thread_id, after)
        return self._page([ItemRecord.from_row(row) for row in rows], limit)

    def iter_items(self, user_id: str, thread_id: str, *, order: str = "asc", page_size: int = 100) -> Iterator[ItemRecord]:
        """Every item of the thread by seq, a batch (one statement) at a time.

        Batches follow the last seq seen, not an item id, so items deleted while a long walk
        (an export) is under way are simply not seen, and new ones are, in order.
        """
        check_order(order)
        if not 1 <= page_size <= MAX_BATCH:
            raise InvalidRequest(f"page_size must be 1-{MAX_BATCH}", {"field": "page_size"})
        after_seq = None
        while True:
            batch = self._item_batch(user_id, thread_id, after_seq, order, page_size)
            yield from batch
            if len(batch) < page_size:
                return
            after_seq = batch[-1].seq

    @reads
    def _item_batch(
        self, user_id: str, thread_id: str, after_seq: int | None, order: str, limit: int
    ) -> list[ItemRecord]:
        stmt = (
            sa.select(*ITEM_COLUMNS)
            .join(threads, threads.c.id == items.c.thread_id)
            .where(items.c.thread_id == thread_id, threads.c.user_id == user_id)
        )
        if after_seq is not None:
            stmt = stmt.where(items.c.seq > after_seq if order == "asc" else items.c.seq < after_seq)
        direction = sa.asc if order == "asc" else sa.desc
        rows = self._execute(stmt.order_by(direction(items.c.seq)).limit(limit)).all()
        if not rows and after_seq is None:
            self.get_thread(user_id, thread_id)  # NotFound for a missing or foreign thread
        return [ItemRecord.from_row(row) for row in rows]

    @reads
    def list_items_json(
        self,
        user_id: str,
        thread_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        order: str = "asc",
    ) -> bytes:
        """`list_items` as the JSON the API answers: `{"data": [...], "has_more", "after"}`.

        On PostgreSQL the database writes each item's JSON in the page's one statement (the API's
        hot read path: no rows decoded and re-encoded in Python); on SQLite it is list_items + orjson.
        """
        check_limit(limit)
        check_order(order)
        self._check_page_ids(thread_id, after)
        if not self._postgres:
            return orjson.dumps(self.list_items(user_id, thread_id, limit=limit, after=after, order=order).to_dict())
        params = {"thread_id": thread_id, "user_id": user_id, "limit": limit, "after": after}
        rows = self._execute(ITEM_PAGE_STATEMENTS[order, after is not None], params).all()
        if not rows:
            self._explain_empty_page(user_id, thread_id, after)
        return page_body(rows, limit)

    @reads
    def count_messages(self, user_id: str, thread_id: str) -> dict[str, int]:
        """The thread's message items by role, e.g. {"user": 3, "assistant": 2}."""
        self.get_thread(user_id, thread_id)  # NotFound for a missing or foreign thread
        rows = self._execute(
            sa.select(items.c.role, sa.func.count())
            .where(items.c.thread_id == thread_id, items.c.type == "message")
            .group_by(items.c.role)
        ).all()
        return {role: count for role, count in rows}

    @staticmethod
    def _check_page_ids(thread_id: str, after: str | None) -> None:
        known_id(thread_id, "Thread")
        if after is not None:
            check_id(after, "after")

    def _explain_empty_page(self, user_id: str, thread_id: str, after: str | None) -> None:
        """An empty item page is NotFound for a missing or foreign thread, invalid for an unknown cursor."""
        self.get_thread(user_id, thread_id)
        if after is not None:
            found = self._execute(sa.select(items.c.seq).where(items.c.thread_id == thread_id, items.c.id == after)).first()
            if found is None:
                raise InvalidRequest("Unknown cursor: no such item for `after`.", {"field": "after"})

    def check_item(self, type: str, role: str | None, content: Any, metadata: Any) -> dict[str, Any]:
        """An item's rules: a type name, a known role, and for messages a role and non-empty text
        within the message limit. Returns the metadata to store."""
        check_type(type)
        check_role(role)
        if type == "message":
            if role is None:
                raise InvalidRequest("a message needs a role", {"field": "role"})
            if not isinstance(content, str) or not content.strip():
                raise InvalidRequest("a message's content must be a non-empty string", {"field": "content"})
            if len(content) > self.max_message_chars:
                raise InvalidRequest(
                    f"a message's content is limited to {self.max_message_chars} characters",
                    {"field": "content", "limit": self.max_message_chars},
                )
        check_storable(content, "content")
        return check_metadata(metadata)

"""The chat store: threads, items and attachments, every call scoped to the acting user.

This module is the one data layer: the UI, the JSON API, the CLI and the ChatKit adapter all
call it, and none of them touch the tables directly. Another user's thread, item or attachment
behaves exactly like a missing one. Lists are keyset pages, never OFFSET.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable, Literal, Optional, TypeVar

import orjson
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .errors import (
    ChatError,
    Conflict,
    DatabaseUnavailable,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    SchemaMissing,
)
from .extensions import db
from .transactions import dialect_insert, dialect_name, reads, run, transaction
from .appends import APPEND_ITEM
from .json_pages import ITEM_PAGE_STATEMENTS
from .ids import MAX_ID_LENGTH, new_attachment_id, new_item_id, new_thread_id
from .models import utcnow
from .records import (
    ATTACHMENT_COLUMNS,
    ITEM_COLUMNS,
    THREAD_COLUMNS,
    UNSET,
    AttachmentRecord,
    ItemRecord,
    Page,
    ThreadRecord,
    attachment_from_row,
    item_from_row,
    thread_from_row,
    attachments,
    items,
    threads,
)


ROLES = ("user", "assistant", "system", "tool")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,%d}$" % (MAX_ID_LENGTH - 1))
TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
MAX_PAGE = 1000
TITLE_FROM_MESSAGE_CHARS = 80

Order = Literal["asc", "desc"]


def check_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidRequest(
            f"{what} must be 1-{MAX_ID_LENGTH} letters, digits, '_', '-', '.' or ':'",
            {"field": what},
        )
    return value


def _check_metadata(value: Any, what: str = "metadata") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{what} must be a JSON object", {"field": what})
    return value


def _check_order(order: str) -> None:
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'", {"field": "order"})


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_PAGE}", {"field": "limit"})


def _json(value: Any) -> str:
    """A JSON document for a jsonb parameter (the values were checked as storable already)."""
    return orjson.dumps(value).decode()


def _title_from(content: str) -> str:
    first_line = content.strip().splitlines()[0] if content.strip() else ""
    if len(first_line) > TITLE_FROM_MESSAGE_CHARS:
        first_line = first_line[: TITLE_FROM_MESSAGE_CHARS - 1].rstrip() + "…"
    return first_line


class ChatStore:
    """Threads, items and attachments of one database, for any acting user.

    Every method takes the acting user's id first. A call outside `transaction()` is complete
    when it returns (committed); calls inside one commit together when the block ends.
    """

    def __init__(
        self,
        session: Session,
        *,
        max_message_chars: int = 32_000,
        max_attachment_bytes: int = 10 * 1024 * 1024,
    ):
        self.session = session
        self.max_message_chars = max_message_chars
        self.max_attachment_bytes = max_attachment_bytes

    # -- ids -----------------------------------------------------------------------------

    @staticmethod
    def new_thread_id() -> str:
        return new_thread_id()

    @staticmethod
    def new_item_id(item_type: str = "message") -> str:
        return new_item_id(item_type)

    @staticmethod
    def new_attachment_id() -> str:
        return new_attachment_id()

    def transaction(self):
        """A unit of work: `with store.transaction(): ...` commits the calls inside once."""
        return transaction(self.session)

    @property
    def _postgres(self) -> bool:
        return dialect_name(self.session) == "postgresql"

    def _insert(self, table: sa.Table):
        return dialect_insert(self.session, table)

    def _execute(self, statement: Any, params: Optional[dict[str, Any]] = None) -> sa.CursorResult:
        return self.session.connection().execute(statement, params)

    # -- threads -------------------------------------------------------------------------

    def create_thread(
        self,
        user_id: str,
        *,
        title: Optional[str] = None,
        metadata: Optional[dict[str, Any]] = None,
        thread_id: Optional[str] = None,
        created_at: Optional[datetime] = None,
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
                title=self._check_title(title),
                metadata=_check_metadata(metadata),
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
                row = self._execute(
                    sa.select(*THREAD_COLUMNS).where(threads.c.id == thread_id, threads.c.user_id == user_id)
                ).first()
                if row is None or row.created_at != created_at:
                    raise Conflict(f"A thread with id {thread_id} exists already.", {"field": "id"})
            return row

        return thread_from_row(run(self.session, insert, write=True, retry=True))

    def save_thread(
        self,
        user_id: str,
        thread_id: str,
        *,
        title: Optional[str],
        metadata: Optional[dict[str, Any]],
        created_at: Optional[datetime] = None,
    ) -> ThreadRecord:
        """Insert or overwrite the thread's title and metadata (an upsert)."""
        check_id(thread_id, "id")
        now = utcnow()
        insert = self._insert(threads)
        values = {"title": self._check_title(title), "metadata": _check_metadata(metadata)}
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
        row = run(self.session, lambda: self._execute(stmt).first(), write=True, retry=True)
        if row is None:  # the id belongs to another user
            raise Conflict(f"A thread with id {thread_id} exists already.", {"field": "id"})
        return thread_from_row(row)

    def update_thread(
        self, user_id: str, thread_id: str, *, title: Any = UNSET, metadata: Any = UNSET
    ) -> ThreadRecord:
        """Change the title and/or metadata of an existing thread."""
        values: dict[str, Any] = {"updated_at": utcnow()}
        if title is not UNSET:
            values["title"] = self._check_title(title)
        if metadata is not UNSET:
            values["metadata"] = _check_metadata(metadata)
        stmt = (
            threads.update()
            .where(threads.c.id == thread_id, threads.c.user_id == user_id)
            .values(**values)
            .returning(*THREAD_COLUMNS)
        )
        row = run(self.session, lambda: self._execute(stmt).first(), write=True, retry=True)
        if row is None:
            raise NotFound("Thread not found.")
        return thread_from_row(row)

    @reads
    def get_thread(self, user_id: str, thread_id: str) -> ThreadRecord:
        return self._load_thread(user_id, thread_id)

    def _load_thread(self, user_id: str, thread_id: str) -> ThreadRecord:
        row = self._execute(
            sa.select(*THREAD_COLUMNS).where(
                threads.c.id == thread_id, threads.c.user_id == user_id
            )
        ).first()
        if row is None:
            raise NotFound("Thread not found.")
        return thread_from_row(row)

    @reads
    def list_threads(
        self,
        user_id: str,
        *,
        limit: int = 20,
        after: Optional[str] = None,
        order: Order = "desc",
        sort: Literal["updated_at", "created_at"] = "updated_at",
    ) -> Page[ThreadRecord]:
        """The user's threads by `sort` time then id; `after` is the last id of the previous page."""
        _check_limit(limit)
        _check_order(order)
        if sort not in ("updated_at", "created_at"):
            raise InvalidRequest("sort must be 'updated_at' or 'created_at'", {"field": "sort"})
        key = threads.c[sort]
        stmt = sa.select(*THREAD_COLUMNS).where(threads.c.user_id == user_id)
        if after is not None:
            anchor = (
                sa.select(key)
                .where(threads.c.id == after, threads.c.user_id == user_id)
                .scalar_subquery()
            )
            if order == "desc":
                stmt = stmt.where(sa.or_(key < anchor, sa.and_(key == anchor, threads.c.id < after)))
            else:
                stmt = stmt.where(sa.or_(key > anchor, sa.and_(key == anchor, threads.c.id > after)))
        direction = sa.desc if order == "desc" else sa.asc
        stmt = stmt.order_by(direction(key), direction(threads.c.id)).limit(limit + 1)
        rows = self._execute(stmt).all()
        if not rows and after is not None:
            self._require_thread_cursor(user_id, after)
        return self._page([thread_from_row(r) for r in rows], limit)

    def _require_thread_cursor(self, user_id: str, after: str) -> None:
        found = self._execute(
            sa.select(threads.c.id).where(threads.c.id == after, threads.c.user_id == user_id)
        ).first()
        if found is None:
            raise InvalidRequest("Unknown cursor: no such thread for `after`.", {"field": "after"})

    def delete_thread(self, user_id: str, thread_id: str) -> None:
        """Delete the thread with its items and attachments (ON DELETE CASCADE)."""
        self._delete(threads.delete().where(threads.c.id == thread_id, threads.c.user_id == user_id), "Thread")

    def _delete(self, statement: sa.Delete, what: str) -> None:
        """Run a one-row DELETE; NotFound when nothing matched, except on the retry of an attempt
        whose answer was lost (it may have deleted the row)."""
        attempts = 0

        def delete() -> None:
            nonlocal attempts
            attempts += 1
            if self._execute(statement).rowcount == 0 and attempts == 1:
                raise NotFound(f"{what} not found.")

        run(self.session, delete, write=True, retry=True)

    # -- items ---------------------------------------------------------------------------

    def add_item(
        self,
        user_id: str,
        thread_id: str,
        *,
        content: Any,
        role: Optional[str] = None,
        type: str = "message",
        metadata: Optional[dict[str, Any]] = None,
        item_id: Optional[str] = None,
        created_at: Optional[datetime] = None,
        auto_title: bool = True,
    ) -> tuple[ItemRecord, bool]:
        """Append an item; returns it and whether it was created just now.

        The seq comes from the thread's counter, bumped under the thread row's lock together with
        the insert (PostgreSQL: one call of chatapp_append_item(); SQLite: UPDATE then INSERT in
        one transaction), so concurrent appends queue, commit in seq order and never share or
        skip a seq. A re-sent `item_id` bumps nothing: with the same body it returns the stored
        item (created=False), with another body it is a conflict. The id and timestamp are fixed
        before the first attempt, so a retry on a fresh connection cannot store the item twice.
        """
        metadata = self._check_item(type, role, content, metadata)
        item_id = check_id(item_id, "id") if item_id is not None else new_item_id(type)
        now = utcnow()
        created_at = created_at or now
        title = _title_from(content) if auto_title and type == "message" and role == "user" else None
        values = {
            "user_id": user_id,
            "thread_id": thread_id,
            "id": item_id,
            "type": type,
            "role": role,
            "content": content,
            "metadata": metadata,
            "created_at": created_at,
            "now": now,
            "title": title or None,
        }
        append = self._append_postgres if self._postgres else self._append_sqlite
        record, created = run(self.session, lambda: append(values), write=True, retry=True)
        return record, created

    def _append_postgres(self, values: dict[str, Any]) -> tuple[ItemRecord, bool]:
        params = dict(values, content=_json(values["content"]), metadata=_json(values["metadata"]))
        row = self._execute(APPEND_ITEM, params).first()
        if row is None:
            raise NotFound("Thread not found.")
        if row.created:
            return self._appended(values, row.seq), True
        existing = ItemRecord(
            values["id"], values["thread_id"], row.seq, row.type, row.role,
            row.content, row.metadata or {}, row.created_at,
        )
        return self._resent(values, existing, row.same_body)

    def _append_sqlite(self, values: dict[str, Any]) -> tuple[ItemRecord, bool]:
        user_id, thread_id, item_id = values["user_id"], values["thread_id"], values["id"]
        bump: dict[str, Any] = {"last_seq": threads.c.last_seq + 1, "updated_at": values["now"]}
        if values["title"]:
            bump["title"] = sa.func.coalesce(threads.c.title, values["title"])
        exists = sa.exists().where(items.c.thread_id == thread_id, items.c.id == item_id)
        # The UPDATE takes SQLite's write lock first, so no other writer can add this id
        # between the check and the INSERT.
        seq = self._execute(
            threads.update()
            .where(threads.c.id == thread_id, threads.c.user_id == user_id, ~exists)
            .values(**bump)
            .returning(threads.c.last_seq)
        ).scalar()
        if seq is None:
            existing = self._load_item(user_id, thread_id, item_id)  # NotFound: no such thread
            return self._resent(values, existing, self._same_body(existing, values))
        self._execute(
            items.insert().values(
                id=item_id,
                thread_id=thread_id,
                seq=seq,
                type=values["type"],
                role=values["role"],
                content=values["content"],
                metadata=values["metadata"],
                created_at=values["created_at"],
            )
        )
        return self._appended(values, seq), True

    @staticmethod
    def _appended(values: dict[str, Any], seq: int) -> ItemRecord:
        return ItemRecord(
            values["id"], values["thread_id"], seq, values["type"], values["role"],
            values["content"], values["metadata"], values["created_at"],
        )

    @staticmethod
    def _same_body(existing: ItemRecord, values: dict[str, Any]) -> bool:
        return (existing.type, existing.role, existing.content, existing.metadata) == (
            values["type"], values["role"], values["content"], values["metadata"],
        )

    @staticmethod
    def _resent(values: dict[str, Any], existing: ItemRecord, same_body: bool) -> tuple[ItemRecord, bool]:
        """The answer for an append whose id exists: the stored item, or a conflict."""
        if not same_body:
            raise Conflict(
                f"Item {values['id']} exists in this thread with a different body.", {"field": "id"}
            )
        # Stored with this very timestamp: this call's own first attempt, whose answer was lost.
        return existing, existing.created_at == values["created_at"]

    def save_item(
        self,
        user_id: str,
        thread_id: str,
        item_id: str,
        *,
        content: Any,
        role: Optional[str] = None,
        type: str = "message",
        metadata: Optional[dict[str, Any]] = None,
        created_at: Optional[datetime] = None,
    ) -> ItemRecord:
        """Overwrite the item in place (keeping its seq), or append it when it is new."""
        metadata = self._check_item(type, role, content, metadata)
        check_id(item_id, "id")
        values: dict[str, Any] = {
            "type": type,
            "role": role,
            "content": content,
            "metadata": metadata,
        }
        if created_at is not None:
            values["created_at"] = created_at
        with self.transaction():
            row = self._update_item_row(user_id, thread_id, item_id, values)
            if row is not None:
                return item_from_row(row)
            try:
                record, _ = self.add_item(
                    user_id,
                    thread_id,
                    content=content,
                    role=role,
                    type=type,
                    metadata=metadata,
                    item_id=item_id,
                    created_at=created_at,
                    auto_title=False,
                )
                return record
            except Conflict:  # a concurrent save inserted it first: overwrite that
                row = self._update_item_row(user_id, thread_id, item_id, values)
                if row is None:
                    raise
                return item_from_row(row)

    def update_item(
        self,
        user_id: str,
        thread_id: str,
        item_id: str,
        *,
        content: Any = UNSET,
        metadata: Any = UNSET,
    ) -> ItemRecord:
        """Change an item's content and/or metadata; its seq, type and role stay."""
        current = self.get_item(user_id, thread_id, item_id)
        values: dict[str, Any] = {}
        if content is not UNSET:
            values["content"] = content
        if metadata is not UNSET:
            values["metadata"] = _check_metadata(metadata)
        self._check_item(
            current.type, current.role, values.get("content", current.content), values.get("metadata", current.metadata)
        )
        if not values:
            return current
        row = run(
            self.session,
            lambda: self._update_item_row(user_id, thread_id, item_id, values),
            write=True,
            retry=True,
        )
        if row is None:
            raise NotFound("Item not found.")
        return item_from_row(row)

    def _update_item_row(
        self, user_id: str, thread_id: str, item_id: str, values: dict[str, Any]
    ) -> Optional[sa.Row]:
        owned = sa.select(threads.c.id).where(
            threads.c.id == thread_id, threads.c.user_id == user_id
        )
        return self._execute(
            items.update()
            .where(items.c.thread_id == thread_id, items.c.id == item_id, items.c.thread_id.in_(owned))
            .values(**values)
            .returning(*ITEM_COLUMNS)
        ).first()

    @reads
    def get_item(self, user_id: str, thread_id: str, item_id: str) -> ItemRecord:
        return self._load_item(user_id, thread_id, item_id)

    def _load_item(self, user_id: str, thread_id: str, item_id: str) -> ItemRecord:
        row = self._execute(
            sa.select(*ITEM_COLUMNS)
            .join(threads, threads.c.id == items.c.thread_id)
            .where(
                items.c.thread_id == thread_id,
                items.c.id == item_id,
                threads.c.user_id == user_id,
            )
        ).first()
        if row is None:
            raise NotFound("Item not found.")
        return item_from_row(row)

    @reads
    def list_items(
        self,
        user_id: str,
        thread_id: str,
        *,
        limit: int = 50,
        after: Optional[str] = None,
        order: Order = "asc",
    ) -> Page[ItemRecord]:
        """The thread's items by seq; `after` is the last item id of the previous page.

        One statement on the common path: the owner check is a join, not a separate query.
        """
        _check_limit(limit)
        _check_order(order)
        stmt = (
            sa.select(*ITEM_COLUMNS)
            .join(threads, threads.c.id == items.c.thread_id)
            .where(items.c.thread_id == thread_id, threads.c.user_id == user_id)
        )
        if after is not None:
            anchor = (
                sa.select(items.c.seq)
                .where(items.c.thread_id == thread_id, items.c.id == after)
                .scalar_subquery()
            )
            stmt = stmt.where(items.c.seq > anchor if order == "asc" else items.c.seq < anchor)
        direction = sa.asc if order == "asc" else sa.desc
        rows = self._execute(stmt.order_by(direction(items.c.seq)).limit(limit + 1)).all()
        if not rows:
            self._explain_empty_page(user_id, thread_id, after)
        return self._page([item_from_row(r) for r in rows], limit)

    @reads
    def list_items_json(
        self,
        user_id: str,
        thread_id: str,
        *,
        limit: int = 50,
        after: Optional[str] = None,
        order: Order = "asc",
    ) -> bytes:
        """`list_items` as the JSON the API answers: `{"data": [...], "has_more", "after"}`.

        On PostgreSQL the database builds the JSON in the page's one statement (the API's hot
        read path: no rows decoded and re-encoded in Python); on SQLite it is list_items + orjson.
        """
        _check_limit(limit)
        _check_order(order)
        connection = self.session.connection()
        if connection.dialect.name != "postgresql":
            page = self.list_items(user_id, thread_id, limit=limit, after=after, order=order)
            return orjson.dumps(
                {"data": [r.to_dict() for r in page.data], "has_more": page.has_more, "after": page.after}
            )
        params = {"thread_id": thread_id, "user_id": user_id, "limit": limit, "after": after}
        body, fetched = connection.execute(ITEM_PAGE_STATEMENTS[order, after is not None], params).one()
        if not fetched:
            self._explain_empty_page(user_id, thread_id, after)
        return body.encode()

    @reads
    def count_messages(self, user_id: str, thread_id: str) -> dict[str, int]:
        """The thread's message items by role, e.g. {"user": 3, "assistant": 2}."""
        self._load_thread(user_id, thread_id)  # NotFound for a missing or foreign thread
        rows = self._execute(
            sa.select(items.c.role, sa.func.count())
            .where(items.c.thread_id == thread_id, items.c.type == "message")
            .group_by(items.c.role)
        ).all()
        return {role: count for role, count in rows}

    def _explain_empty_page(self, user_id: str, thread_id: str, after: Optional[str]) -> None:
        """An empty item page is NotFound for a missing or foreign thread, invalid for an unknown cursor."""
        self._load_thread(user_id, thread_id)
        if after is not None:
            self._require_item_cursor(thread_id, after)

    def _require_item_cursor(self, thread_id: str, after: str) -> None:
        found = self._execute(
            sa.select(items.c.seq).where(items.c.thread_id == thread_id, items.c.id == after)
        ).first()
        if found is None:
            raise InvalidRequest("Unknown cursor: no such item for `after`.", {"field": "after"})

    def delete_item(self, user_id: str, thread_id: str, item_id: str) -> None:
        owned = sa.select(threads.c.id).where(
            threads.c.id == thread_id, threads.c.user_id == user_id
        )
        self._delete(
            items.delete().where(
                items.c.thread_id == thread_id, items.c.id == item_id, items.c.thread_id.in_(owned)
            ),
            "Item",
        )

    # -- attachments ---------------------------------------------------------------------

    def save_attachment(
        self,
        user_id: str,
        *,
        filename: str,
        content_type: str,
        content: bytes = b"",
        thread_id: Optional[str] = None,
        metadata: Optional[dict[str, Any]] = None,
        attachment_id: Optional[str] = None,
        created_at: Optional[datetime] = None,
    ) -> AttachmentRecord:
        """Store an attachment (an upsert by id); a thread must be the user's own."""
        if len(content) > self.max_attachment_bytes:
            raise PayloadTooLarge(
                f"Attachments are limited to {self.max_attachment_bytes} bytes.",
                {"field": "file", "limit": self.max_attachment_bytes},
            )
        if not filename or len(filename) > 255:
            raise InvalidRequest("filename must be 1-255 characters", {"field": "filename"})
        if not content_type or len(content_type) > 255:
            raise InvalidRequest("content_type must be 1-255 characters", {"field": "content_type"})
        attachment_id = (
            check_id(attachment_id, "id") if attachment_id is not None else new_attachment_id()
        )
        if thread_id is not None:
            self.get_thread(user_id, thread_id)
        insert = self._insert(attachments)
        values = {
            "thread_id": thread_id,
            "filename": filename,
            "content_type": content_type,
            "size": len(content),
            "content": content,
            "metadata": _check_metadata(metadata),
        }
        stmt = (
            insert.values(id=attachment_id, user_id=user_id, created_at=created_at or utcnow(), **values)
            .on_conflict_do_update(
                index_elements=["id"],
                set_=values,
                where=attachments.c.user_id == insert.excluded.user_id,
            )
            .returning(*ATTACHMENT_COLUMNS)
        )
        row = run(self.session, lambda: self._execute(stmt).first(), write=True, retry=True)
        if row is None:
            raise Conflict(f"An attachment with id {attachment_id} exists already.", {"field": "id"})
        return attachment_from_row(row)

    @reads
    def get_attachment(self, user_id: str, attachment_id: str) -> AttachmentRecord:
        row = self._execute(
            sa.select(*ATTACHMENT_COLUMNS).where(
                attachments.c.id == attachment_id, attachments.c.user_id == user_id
            )
        ).first()
        if row is None:
            raise NotFound("Attachment not found.")
        return attachment_from_row(row)

    @reads
    def get_attachment_content(self, user_id: str, attachment_id: str) -> tuple[AttachmentRecord, bytes]:
        row = self._execute(
            sa.select(*ATTACHMENT_COLUMNS, attachments.c.content).where(
                attachments.c.id == attachment_id, attachments.c.user_id == user_id
            )
        ).first()
        if row is None:
            raise NotFound("Attachment not found.")
        return attachment_from_row(row), bytes(row[-1] or b"")

    def delete_attachment(self, user_id: str, attachment_id: str) -> None:
        self._delete(
            attachments.delete().where(attachments.c.id == attachment_id, attachments.c.user_id == user_id),
            "Attachment",
        )

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _page(records: list[Any], limit: int) -> Page[Any]:
        has_more = len(records) > limit
        data = records[:limit]
        return Page(data, has_more, data[-1].id if has_more else None)

    @staticmethod
    def _check_title(title: Optional[str]) -> Optional[str]:
        if title is None:
            return None
        if not isinstance(title, str) or len(title) > 200:
            raise InvalidRequest("title must be a string of at most 200 characters", {"field": "title"})
        return title.strip() or None

    def _check_item(
        self, type: str, role: Optional[str], content: Any, metadata: Any
    ) -> dict[str, Any]:
        if not isinstance(type, str) or not TYPE_PATTERN.match(type):
            raise InvalidRequest("type must be a lowercase name such as 'message'", {"field": "type"})
        if role is not None and role not in ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", {"field": "role"})
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
        return _check_metadata(metadata)

    # -- administration ------------------------------------------------------------------

    @reads
    def stats(self) -> dict[str, int]:
        """Row counts for `flask chat stats` (an operator's view, not a user's)."""
        from .models import User

        counts = {}
        for name, table in (("users", User.__table__), ("threads", threads), ("items", items), ("attachments", attachments)):
            counts[name] = self._execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        return counts


def chat_store() -> ChatStore:
    """The store for the current app and request, with the app's configured limits."""
    config = current_app.config
    return ChatStore(
        db.session,
        max_message_chars=config["MAX_MESSAGE_CHARS"],
        max_attachment_bytes=config["MAX_ATTACHMENT_BYTES"],
    )

"""What the chat store's parts share: the session, units of work, statements, one-row reads, pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..errors import NotFound
from .cursors import CursorSigner
from .records import Page, Record
from .transactions import dialect_insert, dialect_name, execute, run, transaction

R = TypeVar("R", bound=Record)


class StoreBase:
    """A session and the limits the app configured; see ChatStore for the methods."""

    def __init__(
        self,
        session: Session,
        *,
        max_message_chars: int = 32_000,
        max_attachment_bytes: int = 10 * 1024 * 1024,
        cursor_secret: str | bytes | None = None,
    ):
        self.session = session
        self.max_message_chars = max_message_chars
        self.max_attachment_bytes = max_attachment_bytes
        # Signs search cursors; the app passes its SECRET_KEY so they work on every instance.
        self.cursors = CursorSigner(cursor_secret)

    def transaction(self, user_id: str | None = None):
        """A unit of work: `with store.transaction(user_id): ...` commits the calls inside once; the
        user's later reads see what it wrote (see transactions.transaction)."""
        return transaction(self.session, user_id)

    @property
    def _postgres(self) -> bool:
        return dialect_name(self.session) == "postgresql"

    def _insert(self, table: sa.Table) -> Any:
        return dialect_insert(self.session, table)

    def _execute(self, statement: Any, params: dict[str, Any] | None = None) -> sa.CursorResult:
        return execute(self.session, statement, params)

    def _one(self, record: type[R], statement: Any, what: str) -> R:
        """The record of the statement's one row; NotFound ("<what> not found.") when there is none."""
        row = self._execute(statement).first()
        if row is None:
            raise NotFound(f"{what} not found.")
        return record.from_row(row)

    def _write_one(self, user_id: str, record: type[R], statement: Any, what: str) -> R:
        """`_one` for a one-statement write (an UPDATE ... RETURNING) by `user_id`, retried once on a
        dead connection: it sets the same values again, so running it twice is harmless."""
        row = run(self.session, lambda: self._execute(statement).first(), write=True, retry=True, user_id=user_id)
        if row is None:
            raise NotFound(f"{what} not found.")
        return record.from_row(row)

    def _delete(self, user_id: str, statement: sa.Delete, what: str) -> None:
        """Run a one-row DELETE by `user_id`; NotFound when nothing matched, except on the retry of
        an attempt whose answer was lost (it may have deleted the row)."""
        attempts = 0

        def delete() -> None:
            nonlocal attempts
            attempts += 1
            if self._execute(statement).rowcount == 0 and attempts == 1:
                raise NotFound(f"{what} not found.")

        run(self.session, delete, write=True, retry=True, user_id=user_id)

    @staticmethod
    def _page(records: Sequence[R], limit: int) -> Page[R]:
        """A page from up to limit + 1 records: the extra one only says there is more."""
        has_more = len(records) > limit
        data = list(records[:limit])
        return Page(data, has_more, data[-1].id if has_more else None)  # type: ignore[attr-defined]

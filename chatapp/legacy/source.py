"""The legacy database, opened read-only: which shapes it holds, and their rows in legacy order.

PostgreSQL: every read runs in one READ ONLY, REPEATABLE READ transaction (a consistent
snapshot of all the tables, and no way to write), items through a server-side cursor so memory
stays flat. SQLite: the file is opened with mode=ro (a missing file is an error, not a new empty
database), and text that is not UTF-8 is read as it is so that row alone can be reported.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ..config import ConfigError, mask_url, normalize_database_url
from .shapes import SHAPES, Shape, Table

STREAM_ROWS = 2000


class SourceError(Exception):
    """The legacy database cannot be opened or read."""


@dataclass
class Found:
    """A shape present in the source: its tables under their actual names, and their columns."""

    shape: Shape
    threads: str
    items: str
    attachments: str | None
    columns: dict[str, list[str]]

    @property
    def tables(self) -> list[str]:
        return [name for name in (self.threads, self.items, self.attachments) if name]


def _sqlite_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")  # values.text() reports what is not UTF-8


class LegacySource:
    """A read-only view of the legacy database at `url`."""

    def __init__(self, url: str):
        try:
            normalized, _ = normalize_database_url(url)
        except ConfigError as exc:
            raise SourceError(str(exc).replace("DATABASE_URL", "--from")) from None
        parsed = make_url(normalized)
        self.display_url = mask_url(normalized)
        self.postgres = parsed.get_backend_name() == "postgresql"
        if self.postgres:
            self.engine = sa.create_engine(normalized, poolclass=NullPool, connect_args={"connect_timeout": 10})
        else:
            path = parsed.database
            if not path or path == ":memory:" or not os.path.isfile(path):
                raise SourceError(f"--from: no SQLite database file at {path or '(none)'}")
            self.engine = sa.create_engine(f"sqlite:///file:{os.path.abspath(path)}?mode=ro&uri=true", poolclass=NullPool)
            sa.event.listen(self.engine, "connect", lambda connection, _: setattr(connection, "text_factory", _sqlite_text))
        self._connection: sa.Connection | None = None

    def __enter__(self) -> LegacySource:
        try:
            connection = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise SourceError(f"cannot open {self.display_url}: {str(exc.orig).strip().splitlines()[0]}") from None
        if self.postgres:
            connection = connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        self._connection = connection
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._connection is not None:
            self._connection.rollback()  # read only: there is nothing to keep
            self._connection.close()
        self.engine.dispose()

    @property
    def connection(self) -> sa.Connection:
        assert self._connection is not None, "use LegacySource as a context manager"
        return self._connection

    def detect(self) -> list[Found]:
        """Every shape whose tables are here with the shape's columns."""
        inspector = sa.inspect(self.connection)
        columns = {name: [column["name"] for column in inspector.get_columns(name)] for name in inspector.get_table_names()}
        self._types = {
            (table, column["name"]): column["type"] for table in columns for column in inspector.get_columns(table)
        }
        found = []
        for shape in SHAPES:
            for threads_name, items_name in zip(shape.threads.names, shape.items.names, strict=True):
                if self._matches(columns, threads_name, shape.threads) and self._matches(columns, items_name, shape.items):
                    attachments = None
                    if shape.attachments is not None:
                        name = shape.attachments.names[0]
                        attachments = name if self._matches(columns, name, shape.attachments) else None
                    names = [name for name in (threads_name, items_name, attachments) if name]
                    found.append(Found(shape, threads_name, items_name, attachments, {n: columns[n] for n in names}))
                    break
        return found

    @staticmethod
    def _matches(columns: dict[str, list[str]], name: str, table: Table) -> bool:
        return name in columns and table.matches(set(columns[name]))

    def count(self, table: str) -> int:
        return self.connection.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()

    def _select(self, found: Found, table: str, spec: Table) -> tuple[sa.Select, Any]:
        wanted = [name for name in found.columns[table] if name in spec.columns | spec.optional]
        source = sa.table(table, *(sa.column(name) for name in wanted))
        return sa.select(*source.c), source

    def _bytewise(self, table: str, column: Any) -> Any:
        """The column ordered by bytes, as SQLite orders text, whatever the server's collation."""
        if self.postgres and isinstance(self._types.get((table, column.name)), sa.String):
            return sa.collate(column, "C")
        return column

    def threads(self, found: Found) -> Iterator[dict[str, Any]]:
        statement, _ = self._select(found, found.threads, found.shape.threads)
        for row in self.connection.execute(statement):
            yield dict(row._mapping)

    def attachments(self, found: Found) -> Iterator[dict[str, Any]]:
        if not found.attachments or found.shape.attachments is None:
            return
        statement, source = self._select(found, found.attachments, found.shape.attachments)
        for row in self.connection.execute(statement.order_by(self._bytewise(found.attachments, source.c.id))):
            yield dict(row._mapping)

    def items(self, found: Found) -> Iterator[dict[str, Any]]:
        """The items grouped by thread, each thread's in legacy order, ties broken by id."""
        shape, table = found.shape, found.items
        statement, source = self._select(found, table, shape.items)
        order = [source.c[shape.item_thread]]
        order += [source.c[name].asc().nulls_last() for name in shape.item_order]
        order.append(self._bytewise(table, source.c.id))
        result = self.connection.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(
            statement.order_by(*order)
        )
        for row in result:
            yield dict(row._mapping)

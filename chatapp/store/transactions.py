"""How the stores talk to the database: one autocommit statement, or a unit of work.

A store call made outside a unit of work is self-contained. On PostgreSQL a one-statement call
runs on an autocommit connection: no BEGIN, no COMMIT or ROLLBACK, one round trip. When its
connection turns out to be dead (a terminated backend, an idle drop, a restart), the call runs
once more on a fresh connection if it is safe to repeat: every read is, and so is every write
whose statement is idempotent with the values fixed before the first attempt (the store's
appends and upserts carry their ids and timestamps in).

`transaction(session)` opens a unit of work: the store calls inside it share one transaction,
committed once when the block ends, rolled back when it raises. Units nest by joining the
outermost one. Inside a unit nothing is retried: a transaction cannot be replayed from here.

On SQLite, where a statement costs no network, a write outside a unit runs in a short
transaction of its own, and nothing is retried.

Database failures become domain errors here (DatabaseUnavailable, SchemaMissing), once.
"""

from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session

from ..errors import ChatError, DatabaseUnavailable, SchemaMissing

log = logging.getLogger("chatapp")

UNIT_DEPTH = "chatapp.unit_depth"
AUTOCOMMIT_TRANSACTION = "chatapp.autocommit_transaction"
DIALECT = "chatapp.dialect"

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def translate_db_error(exc: BaseException) -> Optional[ChatError]:
    """The domain error for a database failure, or None when it is not one we know."""
    if isinstance(exc, ChatError):
        return exc
    if isinstance(exc, sa.exc.TimeoutError):
        return DatabaseUnavailable("Timed out waiting for a database connection.")
    if isinstance(exc, sa.exc.DBAPIError):
        orig = exc.orig
        text = str(orig).lower()
        if getattr(orig, "pgcode", None) == "42P01" or "no such table" in text:
            return SchemaMissing()
        if exc.connection_invalidated or isinstance(
            exc, (sa.exc.OperationalError, sa.exc.InterfaceError)
        ):
            return DatabaseUnavailable("The database is unavailable; try again shortly.")
    return None


def _actual(session: Session | scoped_session) -> Session:
    """The Session behind Flask-SQLAlchemy's scoped `db.session` (the stores take either)."""
    return session() if isinstance(session, scoped_session) else session


def dialect_name(session: Session) -> str:
    session = _actual(session)
    name = session.info.get(DIALECT)
    if name is None:
        name = session.info[DIALECT] = session.get_bind().dialect.name
    return name


def dialect_insert(session: Session, table: sa.Table) -> Any:
    """An INSERT with the dialect's ON CONFLICT clauses (PostgreSQL or SQLite)."""
    if dialect_name(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def in_unit(session: Session) -> bool:
    session = _actual(session)
    return bool(session.info.get(UNIT_DEPTH))


@contextmanager
def transaction(session: Session) -> Iterator[None]:
    """A unit of work: the store calls inside share one transaction, committed at the end."""
    session = _actual(session)
    depth = session.info.get(UNIT_DEPTH, 0)
    if depth:
        session.info[UNIT_DEPTH] = depth + 1
        try:
            yield
        finally:
            session.info[UNIT_DEPTH] = depth
        return
    if session.in_transaction():
        # An autocommit "transaction" left by earlier calls has nothing to commit; a caller's
        # own open transaction is committed as every store write always did.
        session.commit()
    session.info[UNIT_DEPTH] = 1
    try:
        yield
        session.commit()
    except BaseException as exc:
        _rollback_quietly(session)
        translated = translate_db_error(exc) if isinstance(exc, Exception) else None
        if translated is not None and translated is not exc:
            raise translated from exc
        raise
    finally:
        session.info[UNIT_DEPTH] = 0


def run(session: Session, operation: Callable[[], T], *, write: bool, retry: bool) -> T:
    """Run one self-contained store operation (see the module doc for what that means).

    `retry`: the operation may run twice when its autocommit connection was dead. Pass it only
    for operations that are idempotent as given: a re-run must not store anything twice.
    """
    session = _actual(session)
    if in_unit(session):
        return _translated(operation)
    mode = _translated(lambda: _prepare(session))  # a connect can fail too: DatabaseUnavailable
    try:
        result = operation()
    except sa.exc.DBAPIError as exc:
        _rollback_quietly(session)
        if not (retry and mode == "autocommit" and exc.connection_invalidated):
            raise translate_db_error(exc) or exc from exc
    except BaseException:
        if write and mode != "autocommit":
            _rollback_quietly(session)
        raise
    else:
        if write and mode != "autocommit":
            _translated(session.commit)
        return result
    # The connection died under the statement: once more, on a fresh connection.
    try:
        _prepare(session)
        return operation()
    except sa.exc.DBAPIError as exc:
        _rollback_quietly(session)
        raise translate_db_error(exc) or exc from exc


def reads(fn: F) -> F:
    """A store read: an autocommit statement outside a unit, retried once on a dead connection."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        return run(self.session, lambda: fn(self, *args, **kwargs), write=False, retry=True)

    return wrapper  # type: ignore[return-value]


def _prepare(session: Session) -> str:
    """Ready the session for one operation outside a unit; returns how it will run.

    "autocommit": PostgreSQL, each statement commits by itself. "joined": the caller holds an
    open transaction of its own, which the operation joins (and a write commits). "transaction":
    SQLite, a transaction that a write commits at the end.
    """
    current = session.get_transaction()
    if current is not None:
        if session.info.get(AUTOCOMMIT_TRANSACTION) is current:
            return "autocommit"
        return "joined"
    if dialect_name(session) == "postgresql":
        # psycopg2's own switch, not SQLAlchemy's isolation_level option: the latter costs a
        # `SET default_transaction_isolation` round trip on the way back. The pool turns it
        # off again when the connection is checked in (install_autocommit_reset).
        session.connection().connection.dbapi_connection.autocommit = True
        session.info[AUTOCOMMIT_TRANSACTION] = session.get_transaction()
        return "autocommit"
    return "transaction"


def install_autocommit_reset(engine: sa.Engine) -> None:
    """Every PostgreSQL connection goes back to the pool (and comes out) transactional."""

    @sa.event.listens_for(engine, "checkin")
    def _reset(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None and dbapi_connection.autocommit:
            dbapi_connection.autocommit = False

    @sa.event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.autocommit:
            dbapi_connection.autocommit = False


def _translated(operation: Callable[[], T]) -> T:
    try:
        return operation()
    except sa.exc.DBAPIError as exc:
        raise translate_db_error(exc) or exc from exc


def _rollback_quietly(session: Session) -> None:
    try:
        session.rollback()
    except sa.exc.DBAPIError:  # the connection is gone already; the pool discards it
        log.debug("rollback on a dead connection failed", exc_info=True)

"""How the stores talk to the database: one autocommit statement, or a unit of work.

A store call made outside a unit of work is self-contained. On PostgreSQL a one-statement call
runs on an autocommit connection: no BEGIN, no COMMIT or ROLLBACK, one round trip. Without read
replicas that connection comes straight from the engine's pool for the call (`execute` finds
it), not through the ORM session, whose bookkeeping a one-statement call does not need; while
the request has made no Session, none is made. When its connection turns out to be dead (a
terminated backend, an idle drop, a restart), the call runs once more on a fresh connection if
it is safe to repeat: every read is, and so is every write whose statement is idempotent with
the values fixed before the first attempt (the store's appends and upserts carry their ids and
timestamps in).

`transaction(session)` opens a unit of work: the store calls inside it share one transaction,
committed once when the block ends, rolled back when it raises. Units nest by joining the
outermost one. Inside a unit nothing is retried: a transaction cannot be replayed from here.

On SQLite, where a statement costs no network, a write outside a unit runs in a short
transaction of its own, and nothing is retried.

With read replicas (chatapp.replicas, attached to the primary engine), a read outside a unit
and outside the caller's own transaction runs on a replica that has replayed what its user must
see (`positions`), else on the primary; a replica that fails hands the read to the primary. A
write, a unit and every read inside them, and a read after a write in the same session, stay
on the primary; after a write commits, its position is read from the primary and remembered for
its user. Without replicas none of this runs: the statements are exactly those above.

Database failures become domain errors here (DatabaseUnavailable, SchemaMissing), once.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session

from ..errors import ChatError, DatabaseUnavailable, SchemaMissing
from ..positions import carried_position, later, parse_lsn
from ..replicas import PRIMARY_POSITION, READ_ENGINE, Replica, ReplicaSet, any_attached, first_line, replica_set_of

log = logging.getLogger("chatapp")

UNIT_DEPTH = "chatapp.unit_depth"
AUTOCOMMIT_TRANSACTION = "chatapp.autocommit_transaction"
DIALECT = "chatapp.dialect"
# With read replicas only:
REPLICAS = "chatapp.replicas"  # the session's ReplicaSet, or False: looked up once per session
PRIMARY_DEPTH = "chatapp.primary_depth"  # > 0: reads go to the primary (inside a write's checks)
SESSION_REPLICA = "chatapp.session_replica"  # the replica this session read from: it keeps it
WROTE = "chatapp.wrote"  # this session committed a write: its later reads stay on the primary
UNIT_WRITERS = "chatapp.unit_writers"  # users whose writes the open unit will commit
FELL_BACK = object()
# The pooled connection of the self-contained call running now (PostgreSQL, no replicas), if any.
_CALL_CONNECTION: ContextVar[sa.Connection | None] = ContextVar("chatapp_call_connection", default=None)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def translate_db_error(exc: BaseException) -> ChatError | None:
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


def _engine_before_session(session: Session | scoped_session) -> sa.Engine | None:
    """The engine of a scoped session whose scope holds no Session yet (a request that has made
    no ORM call so far), found without making one; None otherwise. Nothing can be open on a
    Session that does not exist, so a self-contained call does not need one."""
    if not isinstance(session, scoped_session) or session.registry.has():
        return None
    options = session.session_factory.kw
    db = options.get("db")  # Flask-SQLAlchemy's sessions find their engine through it
    bind = db.engine if db is not None else options.get("bind")
    return bind if isinstance(bind, sa.Engine) else None


def execute(session: Session | scoped_session, statement: Any, params: Any = None) -> sa.CursorResult:
    """Run a store statement: on the self-contained call's own connection, else on the session's
    (a unit of work, the caller's transaction, SQLite, or a read routed to a replica)."""
    connection = _CALL_CONNECTION.get()
    if connection is None:
        connection = _actual(session).connection()
    return connection.execute(statement, params)


def dialect_name(session: Session) -> str:
    engine = _engine_before_session(session)
    if engine is not None:
        return engine.dialect.name
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


def replicas_of(session: Session) -> ReplicaSet | None:
    """The read replicas of the session's primary, or None (the common case: none configured)."""
    if not any_attached():
        return None
    session = _actual(session)
    found = session.info.get(REPLICAS)
    if found is None:
        found = session.info[REPLICAS] = replica_set_of(session.get_bind()) or False
    return found or None


@contextmanager
def on_primary(session: Session) -> Iterator[None]:
    """Reads inside go to the primary: the checks a write makes before it writes."""
    session = _actual(session)
    session.info[PRIMARY_DEPTH] = session.info.get(PRIMARY_DEPTH, 0) + 1
    try:
        yield
    finally:
        session.info[PRIMARY_DEPTH] -= 1


@contextmanager
def transaction(session: Session, writer: str | None = None) -> Iterator[None]:
    """A unit of work: the store calls inside share one transaction, committed at the end.

    `writer`: the acting user, whose later reads must see what the unit wrote (with read replicas,
    the commit's position is remembered for them; store calls inside name their users too)."""
    if _CALL_CONNECTION.get() is not None:
        # Its statements would run on the call's autocommit connection, not in the unit.
        raise RuntimeError("a unit of work cannot start inside a self-contained store call")
    session = _actual(session)
    if writer is not None and replicas_of(session) is not None:
        session.info.setdefault(UNIT_WRITERS, set()).add(writer)
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
        writers = session.info.pop(UNIT_WRITERS, None)
    if writers:
        _remember_write(session, replicas_of(session), writers)  # type: ignore[arg-type]


def run(
    session: Session,
    operation: Callable[[], T],
    *,
    write: bool,
    retry: bool,
    user_id: str | None = None,
    replica: bool = False,
) -> T:
    """Run one self-contained store operation (see the module doc for what that means).

    `retry`: the operation may run twice when its autocommit connection was dead. Pass it only
    for operations that are idempotent as given: a re-run must not store anything twice.
    `user_id`: the acting user; with read replicas, a write's position is remembered for it and
    a read must see that user's writes. `replica`: a read that a replica may serve.
    """
    if _CALL_CONNECTION.get() is not None:
        return operation()  # a call inside a self-contained call joins its connection
    engine = _own_connection_engine(session)
    if engine is not None:
        return _run_on_own_connection(engine, operation, retry=retry)
    session = _actual(session)
    replicas = replicas_of(session)
    if in_unit(session):
        if write and replicas is not None and user_id is not None:
            session.info.setdefault(UNIT_WRITERS, set()).add(user_id)
        return _translated(operation)
    if replicas is None:
        return _run_on_primary(session, operation, write=write, retry=retry)
    if session.info.get(READ_ENGINE) is not None:
        return operation()  # a read inside a read running on a replica joins it there
    if write:
        result = _run_on_primary(session, operation, write=True, retry=retry, routed=True)
        if user_id is not None:  # (account writes have no user here: their reads are on the primary)
            _remember_write(session, replicas, {user_id})
        return result
    if replica:
        chosen = _replica_for(session, replicas, user_id)
        if chosen is not None:
            result = _run_on_replica(session, replicas, chosen, operation)
            if result is not FELL_BACK:
                return result  # type: ignore[return-value]
    with on_primary(session):  # reads nested in this one go to the primary too
        return _run_on_primary(session, operation, write=False, retry=retry, routed=True)


def _run_on_primary(session: Session, operation: Callable[[], T], *, write: bool, retry: bool, routed: bool = False) -> T:
    mode = _translated(lambda: _prepare(session, routed))  # a connect can fail too: DatabaseUnavailable
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
        _prepare(session, routed)
        return operation()
    except sa.exc.DBAPIError as exc:
        _rollback_quietly(session)
        raise translate_db_error(exc) or exc from exc


def _own_connection_engine(session: Session | scoped_session) -> sa.Engine | None:
    """The engine whose pooled connection a self-contained call takes, or None when the call
    runs on the session: SQLite (a write is a short transaction there), read replicas (the
    session routes the call), a unit of work, or a transaction the caller opened, which the call
    joins. A request that has made no Session yet has none of these open, and gets no Session."""
    engine = _engine_before_session(session)
    if engine is None:
        session = _actual(session)
        # (A transaction on the session is the caller's, or, with replicas, the routed calls'
        # autocommit one: either way the call runs on the session.)
        if in_unit(session) or session.get_transaction() is not None:
            return None
        engine = session.get_bind()
    if engine.dialect.name != "postgresql" or (any_attached() and replica_set_of(engine) is not None):
        return None
    return engine


def _run_on_own_connection(engine: sa.Engine, operation: Callable[[], T], *, retry: bool) -> T:
    """The call on a connection of its own from the pool, in autocommit mode (the pool's checkin
    hook turns that off again), once more on a fresh one if `retry` and the first had died."""
    for attempt in (1, 2):
        try:
            with engine.connect() as connection:
                connection.connection.dbapi_connection.autocommit = True
                token = _CALL_CONNECTION.set(connection)
                try:
                    return operation()
                finally:
                    _CALL_CONNECTION.reset(token)
        except sa.exc.DBAPIError as exc:
            if not (retry and attempt == 1 and exc.connection_invalidated):
                raise translate_db_error(exc) or exc from exc
            # The connection died under the statement: once more, on a fresh connection.
    raise AssertionError("not reached: the second attempt returns or raises")


def reads(fn: F) -> F:
    """A store read by the acting user (the method's first argument): an autocommit statement
    outside a unit, retried once on a dead connection; with read replicas, on a replica that
    shows that user's writes."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        user_id = args[0] if args else kwargs.get("user_id")
        return run(self.session, lambda: fn(self, *args, **kwargs), write=False, retry=True, user_id=user_id, replica=True)

    return wrapper  # type: ignore[return-value]


def reads_on_primary(fn: F) -> F:
    """`reads`, always on the primary (accounts: a new password or token, or a revocation,
    counts at once on every instance)."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        return run(self.session, lambda: fn(self, *args, **kwargs), write=False, retry=True)

    return wrapper  # type: ignore[return-value]


def _prepare(session: Session, routed: bool = False) -> str:
    """Ready the session for one operation outside a unit; returns how it will run.

    "autocommit": PostgreSQL, each statement commits by itself. "joined": the caller holds an
    open transaction of its own, which the operation joins (and a write commits). "transaction":
    SQLite, a transaction that a write commits at the end. `routed` (read replicas configured):
    the autocommit "transaction" may hold a replica's connection and the primary's, and the one
    this operation uses is made autocommit too.
    """
    current = session.get_transaction()
    if current is not None:
        if session.info.get(AUTOCOMMIT_TRANSACTION) is current:
            if routed:
                _autocommit(session)
            return "autocommit"
        return "joined"
    if dialect_name(session) == "postgresql":
        _autocommit(session)
        session.info[AUTOCOMMIT_TRANSACTION] = session.get_transaction()
        return "autocommit"
    return "transaction"


def _autocommit(session: Session) -> None:
    # psycopg2's own switch, not SQLAlchemy's isolation_level option: the latter costs a
    # `SET default_transaction_isolation` round trip on the way back. The pool turns it off
    # again when the connection is checked in (install_autocommit_reset).
    dbapi_connection = session.connection().connection.dbapi_connection
    if not dbapi_connection.autocommit:
        dbapi_connection.autocommit = True


def _replica_for(session: Session, replicas: ReplicaSet, user_id: str | None) -> Replica | None:
    """The replica for a read, or None for the primary."""
    current = session.get_transaction()
    if current is not None and session.info.get(AUTOCOMMIT_TRANSACTION) is not current:
        return None  # the caller's own transaction: its reads must see its writes
    if session.info.get(PRIMARY_DEPTH) or session.info.get(WROTE):
        return None
    position = later(carried_position(), replicas.positions.get(user_id))
    return replicas.choose(position, preferred=session.info.get(SESSION_REPLICA))


def _run_on_replica(session: Session, replicas: ReplicaSet, replica: Replica, operation: Callable[[], T]) -> Any:
    """The operation on the replica; FELL_BACK when the replica failed (the caller asks the primary)."""
    session.info[READ_ENGINE] = replica.engine
    session.info[SESSION_REPLICA] = replica
    try:
        for attempt in (1, 2):
            try:
                _prepare(session, routed=True)
                return operation()
            except sa.exc.SQLAlchemyError as exc:
                _rollback_quietly(session)
                if attempt == 1 and getattr(exc, "connection_invalidated", False):
                    continue  # a pooled connection that died: once more on a fresh one
                replicas.failed(replica, exc)
                session.info.pop(SESSION_REPLICA, None)
                return FELL_BACK
        return FELL_BACK  # not reached: the second attempt returns or falls back
    finally:
        session.info.pop(READ_ENGINE, None)


def _remember_write(session: Session, replicas: ReplicaSet, users: set[str]) -> None:
    """Read the primary's WAL position now that the write committed (one statement) and remember
    it for the writing users; their reads must see it, here and, through the position they
    carry, on every instance."""
    started = time.monotonic()
    session.info[WROTE] = True  # this session's later reads stay on the primary
    try:
        position = _primary_position(session)
    except sa.exc.SQLAlchemyError:
        _rollback_quietly(session)
        try:
            position = _primary_position(session)
        except sa.exc.SQLAlchemyError as exc:
            _rollback_quietly(session)
            log.warning("could not read the commit position after a write (%s): the writer's reads stay on the "
                        "primary for %g s", first_line(exc), replicas.max_lag_seconds)
            for user_id in users:
                replicas.positions.pin(user_id, replicas.max_lag_seconds)
            return
    for user_id in users:
        replicas.remember_write(user_id, position, started)


def _primary_position(session: Session) -> int:
    _prepare(session, routed=True)
    text = session.connection().exec_driver_sql(PRIMARY_POSITION).scalar()
    position = parse_lsn(text)
    if position is None:
        raise RuntimeError(f"{PRIMARY_POSITION} answered {text!r}")
    return position


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

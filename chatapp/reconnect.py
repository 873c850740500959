"""Connection health for PostgreSQL pools.

- Connects that fail only because the server is restarting, starting up or waking (Neon cold
  start) are retried with backoff; the whole retry fits in DB_CONNECT_TIMEOUT.
- A pooled connection is pinged on checkout only when it sat idle for DB_PING_IDLE_SECONDS or
  more: a connection used a moment ago costs no round trip. A dead one found that way is
  replaced before the request sees it; one that dies between pings surfaces as a statement
  error, which the stores retry once where that is safe (chatapp.transactions).
"""

from __future__ import annotations

import contextvars
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

log = logging.getLogger("chatapp")

# libpq / server / PgBouncer messages that mean "try again in a moment", lower-cased.
TRANSIENT_CONNECT_ERRORS = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "connection refused",
    "server closed the connection unexpectedly",
    "could not receive data from server",
    "cannot connect to server",  # PgBouncer while its server restarts
    "server login has been failing",  # PgBouncer's cached login failure
)
FIRST_DELAY = 0.1
MAX_DELAY = 1.0

_single_attempt: contextvars.ContextVar[bool] = contextvars.ContextVar("chatapp_single_connect_attempt", default=False)


@contextmanager
def single_connect_attempt() -> Iterator[None]:
    """Connects made inside get one attempt: for probes (/readyz) that must answer at once."""
    token = _single_attempt.set(True)
    try:
        yield
    finally:
        _single_attempt.reset(token)


def is_transient_connect_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(message in text for message in TRANSIENT_CONNECT_ERRORS)


def install_connect_retry(engine: Engine, budget_seconds: float) -> None:
    """Retry transient connect failures of `engine` with exponential backoff for `budget_seconds`.

    Each attempt's libpq connect_timeout is capped by the budget left, so a request waits at
    most about `budget_seconds` for a connection before it answers 503.
    """

    @event.listens_for(engine, "do_connect")
    def _connect_with_retry(dialect: Any, _record: Any, cargs: tuple, cparams: dict) -> Any:
        dbapi = dialect.loaded_dbapi
        deadline = time.monotonic() + (0 if _single_attempt.get() else budget_seconds)
        configured_timeout = int(cparams.get("connect_timeout") or budget_seconds)
        delay = FIRST_DELAY
        attempt = 1
        while True:
            remaining = deadline - time.monotonic()
            # libpq rounds timeouts below 2 s up to 2 s.
            params = {**cparams, "connect_timeout": max(2, min(configured_timeout, math.ceil(remaining)))}
            try:
                return dbapi.connect(*cargs, **params)
            except dbapi.OperationalError as exc:
                remaining = deadline - time.monotonic()
                if not is_transient_connect_error(exc) or remaining <= delay:
                    raise
                log.info(
                    "database connect attempt %d failed (%s); retrying in %.1fs",
                    attempt,
                    str(exc).strip().splitlines()[0],
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
                attempt += 1


IDLE_SINCE = "chatapp_idle_since"


def install_idle_ping(engine: Engine, idle_seconds: float) -> None:
    """Ping (one `SELECT 1`) only connections that sat in the pool for `idle_seconds` or more.

    A failed ping raises DisconnectionError, on which the pool discards the connection and
    checks out another (up to three attempts), so the request gets a live one. A connection
    fresh from a connect is alive by construction and is not pinged.
    """

    @event.listens_for(engine, "checkin")
    def _mark_idle(_dbapi_connection: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(IDLE_SINCE)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        autocommit = dbapi_connection.autocommit
        try:
            dbapi_connection.autocommit = True  # no BEGIN around the ping, nothing to roll back
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.autocommit = autocommit
        except engine.dialect.loaded_dbapi.Error as error:
            log.info("a pooled connection idle for %.0fs was dead (%s); replacing it", time.monotonic() - since,
                     str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
            raise exc.DisconnectionError() from error

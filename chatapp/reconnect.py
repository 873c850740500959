"""Bounded retry, with backoff, of PostgreSQL connects that fail only because the server is
restarting, starting up or waking (Neon cold start); the whole retry fits in DB_CONNECT_TIMEOUT."""

from __future__ import annotations

import contextvars
import logging
import math
import time
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import event
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

"""Transactions for the stores: reads retried once on a dropped connection, writes rolled back.

Database failures become domain errors here (DatabaseUnavailable, SchemaMissing), once.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar

import sqlalchemy as sa

from .errors import ChatError, DatabaseUnavailable, SchemaMissing


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


F = TypeVar("F", bound=Callable[..., Any])


def reads(fn: F) -> F:
    """A read: retried once, transparently, when its connection was dropped under it."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sa.exc.DBAPIError as exc:
            self.session.rollback()
            if not exc.connection_invalidated:
                raise translate_db_error(exc) or exc
        try:
            return fn(self, *args, **kwargs)
        except sa.exc.DBAPIError as exc:
            self.session.rollback()
            raise translate_db_error(exc) or exc

    return wrapper  # type: ignore[return-value]


def writes(fn: F) -> F:
    """A write: one transaction, committed by the method, rolled back on any failure.

    Writes are never retried here: a client retries with the same item id instead.
    """

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except BaseException as exc:
            try:
                self.session.rollback()
            except sa.exc.DBAPIError:
                pass  # the connection is already gone; the pool discards it
            translated = translate_db_error(exc) if isinstance(exc, Exception) else None
            if translated is not None and translated is not exc:
                raise translated from exc
            raise

    return wrapper  # type: ignore[return-value]

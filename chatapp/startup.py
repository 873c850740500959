"""How a process starts and fails to start: startup errors as one line, and which process logs the startup warnings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import click
import sqlalchemy as sa
from flask.helpers import get_debug_flag
from werkzeug.serving import is_running_from_reloader

from .config import mask_url
from .settings import ConfigError


@contextmanager
def exit_on_startup_error() -> Iterator[None]:
    """Turn a ConfigError into `error: <message>` on stderr and exit status 1, with no traceback.

    For the entry points (wsgi.py, gunicorn.conf.py), where nobody could act on a traceback.
    """
    try:
        yield
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None


# What a connect that fails raises: a missing database, a refused or unreachable server, a bad password.
CONNECTION_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError)
MISSING_DATABASE = re.compile(r'database "(?P<name>[^"]+)" does not exist')


def connection_error_message(exc: sa.exc.DBAPIError, url: sa.URL) -> str:
    """One line saying why connecting to `url` failed, and for a missing database, how to create it."""
    reason = " ".join(str(exc.orig).split())  # libpq's messages span lines
    missing = MISSING_DATABASE.search(reason)
    if missing:
        options = " ".join(
            part for part in (
                f"-h {url.host}" if url.host else "",
                f"-p {url.port}" if url.port else "",
                f"-U {url.username}" if url.username else "",
            ) if part
        )
        command = " ".join(part for part in ("createdb", options, missing["name"]) if part)
        return f'the database "{missing["name"]}" does not exist on {url.host or "localhost"}: create it with `{command}`, then run this again'
    return f"cannot connect to the database {mask_url(url.render_as_string(hide_password=False))}: {reason}"


@contextmanager
def exit_on_connection_error(url: sa.URL) -> Iterator[None]:
    """For commands that need a connection to do anything (`flask db upgrade`): a failed connect
    ends the command with one line on stderr and exit status 1."""
    try:
        yield
    except CONNECTION_ERRORS as exc:
        raise SystemExit(f"error: {connection_error_message(exc, url)}") from None


def serves_requests() -> bool:
    """Whether this process will serve requests, and so should show the startup warnings.

    Under gunicorn, or an app built by a script, yes; under `flask run`, yes, except in the
    reloader's watching parent; any other `flask` command (db upgrade, chat doctor) does not.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True
    if ctx.command.name != "run":
        return False
    reload = ctx.params.get("reload")
    reloader_on = get_debug_flag() if reload is None else reload
    return not reloader_on or is_running_from_reloader()

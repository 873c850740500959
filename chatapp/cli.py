"""The `flask chat` commands: doctor, stats, create-user, create-token and import-legacy."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from .config import mask_url
from .errors import ChatError, DatabaseUnavailable
from .extensions import db
from .health import database_status, replica_statuses
from .legacy.importer import LegacyImport, Report
from .legacy.source import LegacySource, SourceError
from .models import ApiToken, Attachment, Thread, ThreadItem, User
from .services import account_store, chat_store
from .startup import CONNECTION_ERRORS, connection_error_message
from .store.transactions import execute, run

COUNTED_TABLES = {"users": User, "api_tokens": ApiToken, "threads": Thread, "items": ThreadItem, "attachments": Attachment}


def fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


def describe(error: ChatError) -> str:
    """The one line for an error; a connection failure says what exactly failed (and how to fix a
    missing database) rather than the web's generic "unavailable"."""
    cause = error.__cause__
    if isinstance(error, DatabaseUnavailable) and isinstance(cause, CONNECTION_ERRORS):
        return connection_error_message(cause, db.engine.url)
    return error.message


def database_command(command: Callable[..., Any]) -> Callable[..., Any]:
    """with_appcontext, and a database that cannot be reached (missing, refused, bad password)
    ends the command with one line instead of a traceback."""

    @functools.wraps(command)
    def run_command(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CONNECTION_ERRORS as exc:
            fail(connection_error_message(exc, db.engine.url))
        except DatabaseUnavailable as exc:  # the store's own translation of the same failures
            fail(describe(exc))

    return with_appcontext(run_command)


@click.group()
def chat() -> None:
    """chatapp administration."""


@chat.command()
@with_appcontext
def doctor() -> None:
    """Check the database: connection, SSL, version, latency, pool and migrations."""
    engine = db.engine
    pool = current_app.config["DB_POOL"]
    click.echo(f"database:   {mask_url(str(engine.url.render_as_string(hide_password=False)))}")
    click.echo(f"driver:     {engine.dialect.name}+{engine.dialect.driver}")
    if engine.dialect.name == "postgresql":
        click.echo(
            f"pool:       size={pool.size} max_overflow={pool.max_overflow} timeout={pool.timeout}s "
            f"recycle={pool.recycle}s ping_idle={pool.ping_idle_seconds:g}s connect_timeout={pool.connect_timeout}s"
        )
    else:
        click.echo("pool:       SQLite (local file, WAL, foreign keys on)")
    status = database_status(details=True)
    if not status.reachable:
        fail(f"cannot reach the database: {status.error}")
    click.echo(f"server:     {status.details['server']}")
    click.echo(f"ssl:        {status.details['ssl']}")
    click.echo(f"round trip: {status.latency_ms:.1f} ms")
    current = ", ".join(status.current) or "none"
    head = ", ".join(status.heads)
    if not status.at_head:
        fail(f"migrations are not at head (current: {current}; head: {head}): run `flask db upgrade`")
    click.echo(f"migrations: at head ({head})")
    if current_app.config.get("DB_REPLICA_URIS"):
        check_replicas(current_app.config["DB_REPLICAS"])
    click.secho("ok", fg="green")


@chat.command()
@database_command
def stats() -> None:
    """Count users, threads, items and attachments."""
    try:
        counts = run(db.session, row_counts, write=False, retry=True)
    except ChatError as exc:
        fail(describe(exc))
    for name, count in counts.items():
        click.echo(f"{name}: {count}")


def row_counts() -> dict[str, int]:
    """Rows per table: an operator's view of the whole database, not a user's, so not the store's."""
    return {
        name: execute(db.session, sa.select(sa.func.count()).select_from(model)).scalar_one()
        for name, model in COUNTED_TABLES.items()
    }


@chat.command("create-user")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@database_command
def create_user(email: str, password: str) -> None:
    """Create a user who can log in with EMAIL and the password."""
    try:
        user = account_store().create_user(email, password)
    except ChatError as exc:
        fail(describe(exc))
    click.echo(f"created user {user.email} ({user.id})")


@chat.command("create-token")
@click.argument("email", required=False)
@click.option(
    "--external-id",
    help="Instead of EMAIL: the user id an integration (the ChatKit adapter) knows the user by; "
    "such a user is provisioned on first sight, as the adapter does.",
)
@click.option("--name", default="CLI token", show_default=True, help="A label for the token.")
@database_command
def create_token(email: str | None, external_id: str | None, name: str) -> None:
    """Create an API token for EMAIL (or --external-id) and print it once."""
    if (email is None) == (external_id is None):
        fail("give either EMAIL or --external-id (not both)")
    accounts = account_store()
    try:
        if email is not None:
            user_id, who = accounts.find_user_by_email(email).id, email
        else:
            user_id, who = accounts.ensure_external_user(external_id), f"external user {external_id}"
        record, plain = accounts.create_token(user_id, name)
    except ChatError as exc:
        fail(describe(exc))
    click.echo(plain)
    click.echo(f"token {record.id} ({record.name}) for {who}; it is shown only this once.", err=True)


@chat.command("import-legacy")
@click.option("--from", "source_url", required=True, metavar="URL",
              help="The legacy database: postgresql://... or sqlite:///path. Opened read-only.")
@click.option("--owner", "owner_email", metavar="EMAIL",
              help="The account that gets the threads without a user id (seeds 002 and 004).")
@click.option("--dry-run", is_flag=True, help="Report what an import would do; write nothing.")
@database_command
def import_legacy(source_url: str, owner_email: str | None, dry_run: bool) -> None:
    """Import the chat tables of a legacy database (the seed notes' schemas) into chatapp.

    Running it again imports only what is new. Exits 2 when some rows were skipped (listed).
    """
    try:
        owner_id = account_store().find_user_by_email(owner_email).id if owner_email else None
        with LegacySource(source_url) as source:
            job = LegacyImport(chat_store(), account_store(), source, owner_id=owner_id, dry_run=dry_run)
            found = job.detect()
            if not found:
                fail(f"no legacy chat tables found in {source.display_url} (see docs/DATA.md for the shapes)")
            click.echo(f"source: {source.display_url} (read-only)")
            for shape in found:
                click.echo(f"found:  {', '.join(shape.tables)} (seed {shape.shape.seeds})")
            unowned = job.rows_without_owner()
            if unowned and owner_id is None:
                fail(f"{', '.join(unowned)} hold threads without a user id: pass --owner EMAIL to say whose they are")
            with click.progressbar(length=job.total_rows(), label="importing", file=sys.stderr) as bar:
                job.progress = bar.update
                report = job.run()
    except (SourceError, ChatError) as exc:
        fail(str(exc) if isinstance(exc, SourceError) else describe(exc))
    except sa.exc.DBAPIError as exc:  # e.g. the legacy database went away mid-read
        reason = str(exc.orig).strip().splitlines()[0]
        fail(f"the import stopped: {reason}; the threads imported so far stay, and running it again goes on")
    print_report(report, dry_run)
    if report.bad_rows:
        sys.exit(2)


def print_report(report: Report, dry_run: bool) -> None:
    """Counts per legacy table, then every skipped or changed row with its id and the reason."""
    if dry_run:
        click.secho("dry run: nothing was written; a real run would give these counts", fg="yellow")
    headers = ("table", "read", "imported", "already there", "skipped", "changed")
    rows = [
        (name, counts.read, counts.imported, counts.present, counts.skipped, counts.changed)
        for name, counts in report.tables.items()
    ]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        click.echo("  ".join(str(cell).ljust(widths[0]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(row)))
    click.echo(f"users (external ids): {len(report.users)}")
    if report.clipped:
        click.echo(f"messages clipped to MAX_MESSAGE_CHARS: {report.clipped} (whole text in metadata.legacy.content)")
    for row in report.changed_rows:
        click.echo(f"changed: {row.table} {row.legacy_id}: {row.reason}")
    if report.bad_rows:
        click.secho(f"skipped {len(report.bad_rows)} rows:", fg="yellow", err=True)
        for row in report.bad_rows:
            click.echo(f"  {row.table} {row.legacy_id}: {row.reason}", err=True)


def check_replicas(settings: Any) -> None:
    """One line per read replica: reachable, version, lag; exits non-zero after them when one is unusable."""
    click.echo(
        f"replicas:   pool size={settings.pool_size} each, wait={settings.wait_ms} ms, "
        f"max lag={settings.max_lag_seconds:g}s"
    )
    problems = []
    with db.engine.connect() as connection:
        if connection.execute(sa.text("SHOW synchronous_commit")).scalar() == "off":
            problems.append("synchronous_commit is off on the primary: set it to on, read-your-writes depends on it")
    for status in replica_statuses(max_wait=settings.max_lag_seconds):
        if not status.reachable:
            line, problem = f"unreachable: {status.error}", "is unreachable"
        elif not status.in_recovery:
            line, problem = f"{status.server}, NOT a replica (pg_is_in_recovery() is false)", "is not a replica"
        elif status.lag_seconds is None:
            line = f"{status.server}, reachable, lag more than {settings.max_lag_seconds:g} s"
            problem = f"lags more than {settings.max_lag_seconds:g} s"
        else:
            line, problem = f"{status.server}, reachable, lag {status.lag_seconds * 1000:.0f} ms", None
        click.echo(f"{status.name}: {line}")
        if problem:
            problems.append(f"{status.name} {problem}: the primary serves its reads")
    if problems:
        fail("; ".join(problems))

"""Liveness and readiness: /healthz, /readyz, and the database checks `flask chat doctor` shares.

/readyz checks the primary only: a read replica that fails hands its reads to the primary.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app

from .consistency import replica_set
from .errors import error_body
from .extensions import db
from .positions import parse_lsn
from .replicas import PRIMARY_POSITION, REPLAY_POSITION, first_line, query_one

bp = Blueprint("health", __name__)
log = logging.getLogger("chatapp")


@dataclass
class DatabaseStatus:
    reachable: bool
    error: str | None = None
    current: tuple[str, ...] = ()
    heads: tuple[str, ...] = ()
    latency_ms: float | None = None
    details: dict[str, str] = field(default_factory=dict)

    @property
    def at_head(self) -> bool:
        return self.reachable and bool(self.heads) and set(self.current) == set(self.heads)


def migration_heads() -> tuple[str, ...]:
    """The head revisions of migrations/, read once per app."""
    heads = current_app.extensions.get("chatapp.heads")
    if heads is None:
        config = Config()
        config.set_main_option("script_location", current_app.extensions["migrate"].directory)
        heads = tuple(ScriptDirectory.from_config(config).get_heads())
        current_app.extensions["chatapp.heads"] = heads
    return heads


def database_status(details: bool = False) -> DatabaseStatus:
    """Connect, time a round trip, and read the migration revision."""
    status = DatabaseStatus(reachable=False, heads=migration_heads())
    try:
        with db.engine.connect() as conn:
            started = time.perf_counter()
            conn.execute(sa.text("SELECT 1"))
            status.latency_ms = (time.perf_counter() - started) * 1000
            status.current = tuple(MigrationContext.configure(conn).get_current_heads())
            if details:
                status.details = _server_details(conn)
        status.reachable = True
    except sa.exc.SQLAlchemyError as exc:
        status.error = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return status


def _server_details(conn: sa.Connection) -> dict[str, str]:
    if conn.dialect.name == "postgresql":
        version = conn.execute(sa.text("SHOW server_version")).scalar()
        ssl = conn.execute(
            sa.text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).first()
        ssl_text = f"yes ({ssl.version})" if ssl and ssl.ssl else "no"
        return {"server": f"PostgreSQL {version}", "ssl": ssl_text}
    version = conn.execute(sa.text("SELECT sqlite_version()")).scalar()
    return {"server": f"SQLite {version}", "ssl": "not applicable (local file)"}


@dataclass
class ReplicaStatus:
    name: str
    reachable: bool = False
    error: str | None = None
    server: str | None = None
    in_recovery: bool = False
    lag_seconds: float | None = None  # None: still behind after the check's wait


def replica_statuses(max_wait: float) -> list[ReplicaStatus]:
    """Each read replica: reachable, its version, in recovery, and its lag, measured as how long it
    takes to replay the position the primary has when the check starts (waiting up to `max_wait`)."""
    replicas = replica_set()
    if replicas is None:
        return []
    statuses = []
    for replica in replicas.replicas:
        status = ReplicaStatus(replica.name)
        statuses.append(status)
        try:
            in_recovery, version = query_one(replica.engine, "SELECT pg_is_in_recovery(), current_setting('server_version')")
            status.reachable, status.in_recovery, status.server = True, bool(in_recovery), f"PostgreSQL {version}"
            if not in_recovery:
                continue
            (primary,) = query_one(db.engine, PRIMARY_POSITION)
            target = parse_lsn(primary)
            started = time.perf_counter()
            while True:
                (replay,) = query_one(replica.engine, REPLAY_POSITION)
                waited = time.perf_counter() - started
                if replay and parse_lsn(replay) >= target:  # type: ignore[operator]
                    status.lag_seconds = waited
                    break
                if waited > max_wait:
                    break
                time.sleep(0.01)
        except (sa.exc.SQLAlchemyError, replica.engine.dialect.loaded_dbapi.Error) as exc:
            status.error = first_line(exc)
    return statuses


@bp.get("/healthz")
def healthz():
    """Alive while the process answers; it does not touch the database."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Ready when the database answers and its schema is at the migrations' head.

    Anyone may ask, so the answer says only "ok" or "not ready" with a short code; the reason
    (host, port, driver error, revisions) goes to the log, and `flask chat doctor` shows it all.
    """
    from .reconnect import single_connect_attempt

    with single_connect_attempt():  # a probe answers at once; it is asked again soon anyway
        status = database_status()
    if not status.reachable:
        log.warning("readyz: the database is unreachable (%s)", status.error)
        return not_ready("database_unavailable")
    if not status.at_head:
        log.warning("readyz: migrations pending (current: %s; head: %s)", ", ".join(status.current) or "none", ", ".join(status.heads))
        return not_ready("migrations_pending")
    return {"status": "ok"}


def not_ready(code: str):
    return {"status": "not ready", **error_body(code, "not ready")}, 503, {"Retry-After": "5"}

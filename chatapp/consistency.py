"""Read replicas in the app: their pools, and the commit position a client carries from request to request.

With DATABASE_REPLICA_URLS set, `configure_replicas` builds one pool per replica and attaches
them to the primary engine (chatapp.replicas); the store routes its reads by itself from then
on. This module moves the position: a request carries its client's last write position (the
`X-Chatapp-Consistency` header from API clients, the signed session for browsers) and its reads
must see it; a response names the user's latest write position this process knows, so the next
request, served by any instance, sees that write too. Without replicas nothing here is installed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request, session

from .config import engine_options_for, mask_url
from .errors import InvalidRequest
from .extensions import db
from .positions import PINNED, carried_position, carry, format_lsn, later, parse_lsn, uncarry
from .reconnect import install_idle_ping
from .replicas import ReplicaSet, attach
from .store.transactions import install_autocommit_reset

HEADER = "X-Chatapp-Consistency"
SESSION_KEY = "consistency"
EXTENSION = "chatapp.replicas"


def configure_consistency(app: Flask) -> None:
    """The API's position header is checked on every request (it is part of the API); with read
    replicas, their pools and the hooks that carry positions. Runs in an app context; connects
    to nothing."""
    app.before_request(_carry_position)
    urls = app.config.get("DB_REPLICA_URIS") or []
    if urls:
        configure_replicas(app, urls)


def configure_replicas(app: Flask, urls: list[str]) -> None:
    """One pool per replica (DB_REPLICA_POOL_SIZE), attached to the primary engine."""
    settings = app.config["DB_REPLICAS"]
    pool = app.config["DB_POOL"]
    replica_pool = pool.model_copy(update={"size": settings.pool_size})
    engines = []
    for url in urls:
        # No connect retry: a replica that is starting or gone hands its reads to the primary at once.
        engine = sa.create_engine(url, **engine_options_for(url, replica_pool))
        install_idle_ping(engine, pool.ping_idle_seconds)
        install_autocommit_reset(engine)
        engines.append((mask_url(url), engine))
    replicas = ReplicaSet(db.engine, engines, wait_ms=settings.wait_ms, max_lag_seconds=settings.max_lag_seconds)
    attach(db.engine, replicas)
    app.extensions[EXTENSION] = replicas
    app.after_request(_tell_position)
    app.teardown_request(_drop_position)


def replica_set(app: Flask | None = None) -> ReplicaSet | None:
    """The app's read replicas, or None when it has none."""
    return (app or current_app).extensions.get(EXTENSION)


def _carry_position() -> None:
    """The position the client carries: the header (an API client's), the browser session's."""
    position = None
    header = request.headers.get(HEADER)
    if header is not None:
        position = parse_lsn(header.strip())
        if position is None:
            raise InvalidRequest(
                f"{HEADER} must be a position this API sent in that header, such as 0/16B3748.", {"field": HEADER}
            )
    if EXTENSION not in current_app.extensions:
        return  # no replicas: every read is on the primary already
    if _browser():
        stored = session.get(SESSION_KEY)
        if stored:
            position = later(position, parse_lsn(stored))
    if position is not None:
        g.chatapp_carried = carry(position)


def _drop_position(_error: BaseException | None = None) -> None:
    token = g.pop("chatapp_carried", None)
    if token is not None:
        uncarry(token)


def _browser() -> bool:
    """A browser's request, whose session may carry a position; the API's never touch the session
    (no cookie, no `Vary: Cookie`)."""
    return request.blueprint != "api"


def acting_user() -> str | None:
    """The request's user: the API token's, or the browser session's."""
    return g.get("api_user_id") or (session.get("user_id") if _browser() else None)


def latest_position(user_id: str) -> str | None:
    """The user's latest write position this process knows, as sent to clients, or None."""
    replicas = replica_set()
    position = replicas.positions.get(user_id) if replicas is not None else None
    if position is None or position >= PINNED:
        return None
    return format_lsn(position)


def _tell_position(response: Response) -> Response:
    """Name the user's latest write position when the client does not carry it yet."""
    user_id = acting_user()
    if user_id is None:
        return response
    text = latest_position(user_id)
    carried = carried_position()
    if text is None or (carried is not None and parse_lsn(text) <= carried):  # type: ignore[operator]
        return response
    response.headers[HEADER] = text
    if _browser() and session.get("user_id") == user_id:
        session[SESSION_KEY] = text
    return response


def consistency_event(user_id: str) -> tuple[str, dict[str, Any]] | None:
    """The last event of a streamed reply: the position of the reply just stored (the stream's
    headers left before it was written), or None without replicas."""
    text = latest_position(user_id) if replica_set() is not None else None
    return ("consistency", {"position": text}) if text is not None else None

"""The tables: users, user_sessions, token_reveals, api_tokens, threads, thread_items and attachments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .rules import MAX_ID_LENGTH


class UTCDateTime(sa.TypeDecorator):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; chatapp stores aware UTC timestamps")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
IdType = sa.String(MAX_ID_LENGTH)


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    # NULL for users provisioned by an integration (external_id) rather than registered.
    email: Mapped[str | None] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    external_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserSession(db.Model):
    """A browser session, so that logging out ends it on the server, not only in the browser."""

    __tablename__ = "user_sessions"

    # SHA-256 of the random secret the signed session cookie carries; never the secret itself.
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TokenReveal(db.Model):
    """A new API token's plain text, kept only for the one page view that shows it: the settings
    form redirects after creating a token (so a reload cannot create a second), and the page it
    lands on takes this row away as it shows the token. Ending the session drops it too."""

    __tablename__ = "token_reveals"

    session_id: Mapped[str] = mapped_column(
        sa.ForeignKey("user_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    token_id: Mapped[str] = mapped_column(sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    plain: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Thread(db.Model):
    __tablename__ = "threads"
    __table_args__ = (
        sa.Index("ix_threads_user_id_updated_at_id", "user_id", "updated_at", "id"),
        sa.Index("ix_threads_user_id_created_at_id", "user_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str | None] = mapped_column(sa.Text)
    # "metadata" is reserved on declarative classes, hence the attribute name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The last seq handed out; bumped with UPDATE ... RETURNING so appends never collide.
    last_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    # The last item of the branch the thread shows (its items form a tree through parent_id);
    # every append moves it to the new item. NULL while the thread is empty.
    leaf_id: Mapped[str | None] = mapped_column(IdType)


class ThreadItem(db.Model):
    __tablename__ = "thread_items"
    __table_args__ = (
        sa.UniqueConstraint("thread_id", "seq"),
        # Versions (siblings) of an item, and the children of an item, in seq order.
        sa.Index("ix_thread_items_thread_id_parent_id_seq", "thread_id", "parent_id", "seq"),
    )

    # Item ids are unique within their thread; a client may choose its own.
    thread_id: Mapped[str] = mapped_column(
        sa.ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    type: Mapped[str] = mapped_column(sa.String(64), default="message")
    role: Mapped[str | None] = mapped_column(sa.String(16))
    content: Mapped[Any] = mapped_column(JSONType)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The item this one follows (NULL: a first item). Edits and regenerated replies share a
    # parent with the item they replace; the store keeps the tree whole (no foreign key: the
    # key would be (thread_id, parent_id), and deletes splice children up to the parent).
    parent_id: Mapped[str | None] = mapped_column(IdType)


class Attachment(db.Model):
    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    thread_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("threads.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Schema objects that migrations make but no model describes, so autogenerate must not drop them:
# full-text search (migration 0003: a generated column and its index on PostgreSQL, an FTS5 table
# and its shadow tables on SQLite) and seed 002's tables that migration 0001 moves aside.
UNMODELLED_TABLES = ("legacy_threads", "legacy_thread_items")
UNMODELLED_TABLE_PREFIX = "thread_items_fts"
UNMODELLED_COLUMNS = {("thread_items", "search_vector")}
UNMODELLED_INDEXES = {"ix_thread_items_search_vector"}


def include_in_autogenerate(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's include_object hook (migrations/env.py and tests/test_migrations.py)."""
    if type_ == "table":
        return not (name in UNMODELLED_TABLES or (name or "").startswith(UNMODELLED_TABLE_PREFIX))
    if type_ == "column":
        return (obj.table.name, name) not in UNMODELLED_COLUMNS
    if type_ == "index":
        return name not in UNMODELLED_INDEXES
    return True

"""Accounts: users with hashed passwords, their browser sessions, and personal API tokens stored only as hashes."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import Conflict, InvalidRequest, NotFound
from ..ids import new_id
from ..models import ApiToken, User, utcnow
from ..rules import UNSTORABLE_TEXT, check_new_password, check_text
from .sessions import SessionStore
from .transactions import dialect_insert, dialect_name, execute, reads_on_primary, run, transaction

users = User.__table__
tokens = ApiToken.__table__

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "chat_"
# "Last used" is a day-to-day hint, not an audit log: recorded at most once a minute per token.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


@functools.cache  # at most a duplicate first computation under a race: harmless
def _dummy_hash() -> str:
    """A password hash checked when the email is unknown, so both paths take the same time.

    Made on first use, not at import: scrypt costs about 240 ms in every worker and command.
    """
    return generate_password_hash("not a real password")


@dataclass(slots=True)
class UserRecord:
    id: str
    email: str | None
    external_id: str | None
    created_at: datetime


@dataclass(slots=True)
class TokenRecord:
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 320 or UNSTORABLE_TEXT.search(email):
        raise InvalidRequest("Enter a valid email address.", {"field": "email"})
    return email


def _checkable(password: str | None) -> str:
    """A password to compare with a hash: unstorable text (which no stored password holds) is
    compared as a wrong password, so the time taken is the same."""
    password = password or ""
    return "\ufffd" if UNSTORABLE_TEXT.search(password) else password


class AccountStore(SessionStore):
    """Users, their sessions and API tokens; like ChatStore, it receives its session from outside."""

    def __init__(self, session: Session):
        self.session = session

    def transaction(self):
        """A unit of work: `with accounts.transaction(): ...` commits the calls inside once."""
        return transaction(self.session)

    def create_user(self, email: str, password: str) -> UserRecord:
        """A new user; Conflict when the email has an account already. The password is hashed
        first either way, so both answers take the same time."""
        email = normalize_email(email)
        check_new_password(password, email)
        record = UserRecord(new_id("usr"), email, None, utcnow())
        password_hash = generate_password_hash(password)

        def insert() -> None:
            if execute(self.session, sa.select(users.c.id).where(users.c.email == email)).first():
                raise Conflict("An account with this email exists already.", {"field": "email"})
            try:
                execute(
                    self.session,
                    users.insert().values(
                        id=record.id, email=email, password_hash=password_hash, created_at=record.created_at
                    )
                )
            except sa.exc.IntegrityError:  # registered concurrently
                raise Conflict("An account with this email exists already.", {"field": "email"}) from None

        run(self.session, insert, write=True, retry=False)
        return record

    @reads_on_primary
    def authenticate(self, email: str, password: str) -> UserRecord | None:
        """The user for this email and password, or None, without telling which was wrong."""
        email = (email or "").strip().lower()
        row = None
        if not UNSTORABLE_TEXT.search(email):
            row = execute(
                self.session,
                sa.select(users.c.id, users.c.email, users.c.external_id, users.c.created_at, users.c.password_hash)
                .where(users.c.email == email)
            ).first()
        if row is None or row.password_hash is None:
            check_password_hash(_dummy_hash(), _checkable(password))
            return None
        if not check_password_hash(row.password_hash, _checkable(password)):
            return None
        return UserRecord(row.id, row.email, row.external_id, row.created_at)

    @reads_on_primary
    def check_password(self, user_id: str, password: str) -> bool:
        """Whether `password` is the user's current one."""
        stored = execute(self.session, sa.select(users.c.password_hash).where(users.c.id == user_id)).scalar()
        return check_password_hash(stored or _dummy_hash(), _checkable(password)) and stored is not None

    def set_password(self, user_id: str, email: str, password: str) -> None:
        """Replace the user's password (checked against the rule first). Sessions and tokens are
        the caller's to end: see end_sessions and revoke_tokens."""
        check_new_password(password, email)
        update = users.update().where(users.c.id == user_id).values(password_hash=generate_password_hash(password))
        if run(self.session, lambda: execute(self.session, update), write=True, retry=True).rowcount == 0:
            raise NotFound("User not found.")

    @reads_on_primary
    def get_user(self, user_id: str) -> UserRecord:
        row = execute(
            self.session,
            sa.select(users.c.id, users.c.email, users.c.external_id, users.c.created_at).where(users.c.id == user_id)
        ).first()
        if row is None:
            raise NotFound("User not found.")
        return UserRecord(*row)

    @reads_on_primary
    def find_user_by_email(self, email: str) -> UserRecord:
        row = execute(
            self.session,
            sa.select(users.c.id, users.c.email, users.c.external_id, users.c.created_at).where(
                users.c.email == normalize_email(email)
            )
        ).first()
        if row is None:
            raise NotFound(f"No user with the email {email}.")
        return UserRecord(*row)

    def ensure_external_user(self, external_id: str) -> str:
        """The chatapp user id for an integration's own user id, provisioned on first sight."""
        if not isinstance(external_id, str) or not external_id or len(external_id) > 255:
            raise InvalidRequest("A user id of 1-255 characters is required.", {"field": "user_id"})
        check_text(external_id, "user_id")
        query = sa.select(users.c.id).where(users.c.external_id == external_id)
        user_id = new_id("usr")

        insert = (
            dialect_insert(self.session, users)
            .values(id=user_id, external_id=external_id, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["external_id"])
            .returning(users.c.id)
        )

        def provision() -> str:
            found = execute(self.session, query).scalar()
            if found is None:
                found = execute(self.session, insert).scalar()
            # None: provisioned concurrently by another request (or by this call's lost attempt)
            return found if found is not None else execute(self.session, query).scalar_one()

        return run(self.session, provision, write=True, retry=True)

    # -- API tokens ----------------------------------------------------------------------

    def create_token(self, user_id: str, name: str = "API token") -> tuple[TokenRecord, str]:
        """A new token; the plain text is returned once and only its hash is stored."""
        name = check_text((name or "").strip(), "name") or "API token"
        if len(name) > 100:
            raise InvalidRequest("The token name is limited to 100 characters.", {"field": "name"})
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(new_id("tok"), name, utcnow(), None, None)
        insert = tokens.insert().values(
            id=record.id,
            user_id=user_id,
            name=name,
            token_hash=hash_token(plain),
            created_at=record.created_at,
        )
        run(self.session, lambda: execute(self.session, insert), write=True, retry=False)
        return record, plain

    @reads_on_primary
    def list_tokens(self, user_id: str) -> list[TokenRecord]:
        rows = execute(
            self.session,
            sa.select(tokens.c.id, tokens.c.name, tokens.c.created_at, tokens.c.last_used_at, tokens.c.revoked_at)
            .where(tokens.c.user_id == user_id)
            .order_by(tokens.c.created_at.desc(), tokens.c.id)
        ).all()
        return [TokenRecord(*row) for row in rows]

    def revoke_token(self, user_id: str, token_id: str) -> None:
        revoke = (
            tokens.update()
            .where(tokens.c.id == token_id, tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if run(self.session, lambda: execute(self.session, revoke), write=True, retry=False).rowcount == 0:
            raise NotFound("Token not found.")

    def revoke_tokens(self, user_id: str) -> int:
        """Revoke every live token of the user; returns how many there were."""
        revoke = tokens.update().where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None)).values(revoked_at=utcnow())
        return run(self.session, lambda: execute(self.session, revoke), write=True, retry=True).rowcount

    @reads_on_primary
    def user_for_token(self, plain: str) -> str | None:
        """The user id a live token belongs to, or None for an unknown or revoked token.

        Records the use as the token's `last_used_at` when the recorded one is over a minute old:
        on PostgreSQL in the lookup's own statement (one round trip, a write only when stale).
        """
        if not plain.startswith(TOKEN_PREFIX) or UNSTORABLE_TEXT.search(plain):
            return None
        now = utcnow()
        found = (
            sa.select(tokens.c.id, tokens.c.user_id, tokens.c.last_used_at)
            .where(tokens.c.token_hash == hash_token(plain), tokens.c.revoked_at.is_(None))
            .cte("found")
        )
        stale = sa.or_(found.c.last_used_at.is_(None), found.c.last_used_at < now - TOKEN_USE_RESOLUTION)
        touch = tokens.update().where(tokens.c.id == found.c.id, stale).values(last_used_at=now)
        if dialect_name(self.session) == "postgresql":
            statement = sa.select(found.c.user_id).add_cte(touch.cte("touched"))
            return run(self.session, lambda: execute(self.session, statement).scalar(), write=True, retry=True)

        def look_up_and_touch() -> str | None:  # SQLite: no UPDATE in a WITH; two local statements
            row = execute(self.session, sa.select(found.c.id, found.c.user_id, stale.label("stale"))).first()
            if row is not None and row.stale:
                execute(self.session, tokens.update().where(tokens.c.id == row.id).values(last_used_at=now))
            return row.user_id if row is not None else None

        return run(self.session, look_up_and_touch, write=True, retry=False)

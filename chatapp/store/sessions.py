"""Browser sessions kept on the server: started at log-in, checked on every request, ended at will.

The signed session cookie carries a random secret; the table keeps only its SHA-256, the user and
an absolute expiry. Logging out deletes the row, so a copied cookie stops working; a password
change or "log out everywhere" deletes every row of the user.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import UserSession, utcnow
from .transactions import reads_on_primary, run

sessions = UserSession.__table__


def hash_session(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SessionStore:
    """The session methods of AccountStore."""

    session: Session

    def start_session(self, user_id: str, lifetime: timedelta) -> str:
        """A new session for the user, valid for `lifetime`; returns its secret (for the cookie).
        The user's expired sessions are cleared on the way."""
        secret = secrets.token_urlsafe(32)
        now = utcnow()

        def start() -> None:
            self.session.execute(sessions.delete().where(sessions.c.user_id == user_id, sessions.c.expires_at <= now))
            self.session.execute(
                sessions.insert().values(
                    id=hash_session(secret), user_id=user_id, created_at=now, expires_at=now + lifetime
                )
            )

        run(self.session, start, write=True, retry=False)
        return secret

    @reads_on_primary  # a session just started must count at once, on every instance
    def session_user(self, secret: str) -> str | None:
        """The user id of a live session, or None when it ended or expired (one primary-key lookup)."""
        return self.session.execute(
            sa.select(sessions.c.user_id).where(sessions.c.id == hash_session(secret), sessions.c.expires_at > utcnow())
        ).scalar()

    def end_session(self, secret: str) -> None:
        statement = sessions.delete().where(sessions.c.id == hash_session(secret))
        run(self.session, lambda: self.session.execute(statement), write=True, retry=True)

    def end_sessions(self, user_id: str) -> int:
        """End every session of the user; returns how many there were."""
        statement = sessions.delete().where(sessions.c.user_id == user_id)
        return run(self.session, lambda: self.session.execute(statement), write=True, retry=True).rowcount

"""Browser sessions kept on the server: started at log-in, checked on every request, ended at will.

The signed session cookie carries a random secret; the table keeps only its SHA-256, the user and
an absolute expiry. Logging out deletes the row, so a copied cookie stops working; a password
change or "log out everywhere" deletes every row of the user.

A token created on the settings page is kept for its session in token_reveals until the page
the form redirects to shows it: `keep_token_reveal`, then `take_token_reveal` deletes it as it
reads it (one DELETE ... RETURNING), so it is shown once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import TokenReveal, UserSession, utcnow
from .transactions import execute, reads_on_primary, run

sessions = UserSession.__table__
reveals = TokenReveal.__table__
REVEAL_LIFETIME = timedelta(minutes=10)  # a token not shown by then is not shown at all


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
            execute(self.session, sessions.delete().where(sessions.c.user_id == user_id, sessions.c.expires_at <= now))
            execute(
                self.session,
                sessions.insert().values(
                    id=hash_session(secret), user_id=user_id, created_at=now, expires_at=now + lifetime
                )
            )

        run(self.session, start, write=True, retry=False)
        return secret

    @reads_on_primary  # a session just started must count at once, on every instance
    def session_user(self, secret: str) -> str | None:
        """The user id of a live session, or None when it ended or expired (one primary-key lookup)."""
        return execute(
            self.session,
            sa.select(sessions.c.user_id).where(sessions.c.id == hash_session(secret), sessions.c.expires_at > utcnow())
        ).scalar()

    def end_session(self, secret: str) -> None:
        statement = sessions.delete().where(sessions.c.id == hash_session(secret))
        run(self.session, lambda: execute(self.session, statement), write=True, retry=True)

    def end_sessions(self, user_id: str) -> int:
        """End every session of the user; returns how many there were."""
        statement = sessions.delete().where(sessions.c.user_id == user_id)
        return run(self.session, lambda: execute(self.session, statement), write=True, retry=True).rowcount

    def keep_token_reveal(self, secret: str, token_id: str, plain: str) -> None:
        """Keep a new token's plain text for the session's next settings page (one per session:
        a newer token replaces an older one not yet shown). Run it in the token's transaction."""
        session_id, now = hash_session(secret), utcnow()

        def keep() -> None:
            execute(self.session, reveals.delete().where(reveals.c.session_id == session_id))
            execute(
                self.session,
                reveals.insert().values(session_id=session_id, token_id=token_id, plain=plain, created_at=now)
            )

        run(self.session, keep, write=True, retry=False)

    def take_token_reveal(self, secret: str) -> tuple[str, str] | None:
        """The (token id, plain text) kept for this session, deleted as it is read; None when
        there is none or it is older than REVEAL_LIFETIME."""
        statement = (
            reveals.delete()
            .where(reveals.c.session_id == hash_session(secret))
            .returning(reveals.c.token_id, reveals.c.plain, reveals.c.created_at)
        )
        row = run(self.session, lambda: execute(self.session, statement).first(), write=True, retry=False)
        if row is None or _expired(row.created_at):
            return None
        return row.token_id, row.plain


def _expired(created_at: datetime) -> bool:
    return created_at <= utcnow() - REVEAL_LIFETIME

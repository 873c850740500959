"""Who is logged in: a server-side session named by the signed cookie, checked on every request,
and the login_required guard.

The cookie carries the user id, the email and a random session secret; the user_sessions table
keeps the secret's hash (chatapp/store/sessions.py). A request is signed in only while that row
lives, so logging out (here, in another browser, by a password change or "log out everywhere")
ends the session for every copy of the cookie. Each process trusts a session it checked for
SESSION_CACHE_SECONDS (default 2), so a page and the requests its scripts make right after it
cost no extra statement; a session ended through this process is forgotten at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for

from ..caches import session_cache
from ..errors import Unauthorized, wants_json
from ..services import account_store
from ..store import UserRecord
from ..store.sessions import hash_session

F = TypeVar("F", bound=Callable)
SIGNED_OUT = ""  # g.user_id once the check found no live session


def current_user_id() -> str | None:
    """The signed-in user's id, once the session is found live (checked once per request)."""
    user_id = g.get("user_id")
    if user_id is None:
        user_id = g.user_id = _live_session_user() or SIGNED_OUT
    return user_id or None


def _live_session_user() -> str | None:
    user_id, secret = session.get("user_id"), session.get("sid")
    if not user_id:
        return None
    if not isinstance(secret, str) or not secret:  # a cookie from before sessions were kept
        session.clear()
        return None
    key = hash_session(secret)
    cache = session_cache()
    found = cache.get(key)
    if found is None:
        found = account_store().session_user(secret)
        if found is not None:
            cache.put(key, found)
    if found != user_id:
        session.clear()  # ended elsewhere: the browser forgets it too
        return None
    return user_id


def current_user_email() -> str | None:
    return session.get("email") if current_user_id() else None


def log_in(user: UserRecord) -> None:
    """Start a fresh session for `user` (a new one, so a planted cookie cannot be reused)."""
    secret = account_store().start_session(user.id, current_app.permanent_session_lifetime)
    session.clear()
    session["user_id"] = user.id
    session["email"] = user.email
    session["sid"] = secret
    session.permanent = True
    g.user_id = user.id


def log_out() -> None:
    """End this session on the server (every copy of the cookie) and in the browser."""
    secret = session.get("sid")
    if isinstance(secret, str) and secret:
        account_store().end_session(secret)
        session_cache().forget(hash_session(secret))
    session.clear()
    g.user_id = SIGNED_OUT


def forget_sessions_of(user_id: str) -> None:
    """After the store ended every session of the user: this process stops trusting them now."""
    session_cache().forget_user(user_id)


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def login_required(view: F) -> F:
    """Pages redirect to the login form; JSON requests (the page's scripts) get 401."""

    @wraps(view)
    def guarded(*args, **kwargs):
        if current_user_id() is None:
            if wants_json(request):
                raise Unauthorized("Your session has ended: log in again.")
            return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]

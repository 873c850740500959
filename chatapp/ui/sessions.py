"""Who is logged in: the user id kept in the signed session cookie, and the login_required guard."""

from __future__ import annotations

from functools import wraps
from typing import Callable, Optional, TypeVar
from urllib.parse import urlsplit

from flask import redirect, request, session, url_for

from ..errors import Unauthorized, wants_json

from ..store import UserRecord

F = TypeVar("F", bound=Callable)


def current_user_id() -> Optional[str]:
    return session.get("user_id")


def current_user_email() -> Optional[str]:
    return session.get("email")


def log_in(user: UserRecord) -> None:
    """Start a fresh session for `user` (a new session, so a planted one cannot be reused)."""
    session.clear()
    session["user_id"] = user.id
    session["email"] = user.email
    session.permanent = True


def log_out() -> None:
    session.clear()


def safe_next(target: Optional[str]) -> Optional[str]:
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

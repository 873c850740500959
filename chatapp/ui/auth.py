"""Accounts in the browser: register, log in (throttled on failure), log out."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask.wrappers import Response

from ..errors import Conflict, InvalidRequest
from ..extensions import limiter
from . import bp
from ..services import account_store
from .sessions import current_user_id, log_in, log_out, safe_next

BAD_CREDENTIALS = "The email or password is incorrect."
THROTTLED = "Too many failed log-in attempts. Wait a few minutes, then try again."


def _login_failed(response: Response) -> bool:
    """Only failed attempts count toward the limits: success answers with a redirect."""
    return response.status_code != 303


def _account_key() -> str:
    return "login-account:" + request.form.get("email", "").strip().lower()


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Show the sign-up form, or create the account and log in."""
    if request.method == "GET":
        return render_template("register.html", email="")
    email = request.form.get("email", "")
    try:
        user = account_store().create_user(email, request.form.get("password", ""))
    except (InvalidRequest, Conflict) as error:
        return render_template("register.html", email=email, error=error.message), error.status
    log_in(user)
    return redirect(url_for("ui.index"), 303)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"],
    methods=["POST"],
    deduct_when=_login_failed,
    error_message=THROTTLED,
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=_account_key,
    methods=["POST"],
    deduct_when=_login_failed,
    error_message=THROTTLED,
)
def login():
    """Show the log-in form, or check the credentials and start a session."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user_id() is not None:
            return redirect(next_url or url_for("ui.index"))
        return render_template("login.html", email="", next=next_url)
    email = request.form.get("email", "")
    user = account_store().authenticate(email, request.form.get("password", ""))
    if user is None:
        return render_template("login.html", email=email, next=next_url, error=BAD_CREDENTIALS), 401
    log_in(user)
    return redirect(next_url or url_for("ui.index"), 303)


@bp.post("/logout")
def logout():
    """End the session."""
    log_out()
    return redirect(url_for("ui.login"), 303)

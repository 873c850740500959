"""Accounts in the browser: register (throttled, the same answer whether or not the address has
an account), log in (failures throttled without locking the real user out), log out."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from ..errors import Conflict, InvalidRequest
from ..extensions import limiter
from ..rules import PASSWORD_RULE
from ..services import account_store
from . import bp
from .forms import kept, shows_form_again
from .sessions import current_user_id, log_in, log_out, safe_next
from .throttling import client_address, login_throttle

BAD_CREDENTIALS = "The email or password is incorrect."
THROTTLED = "Too many failed log-in attempts. Wait a few minutes, then try again."
REGISTER_THROTTLED = "Too many sign-ups from your network. Wait a few minutes, then try again."
# One answer for a new and a taken address, so that it tells a stranger nothing.
REGISTERED = (
    "If this email address was new, your account is ready: log in with the password you chose. "
    "If it already had an account, log in with that account's password."
)


def render_register(*, email: str = "", error: str | None = None, status: int = 200):
    return render_template("register.html", email=email, error=error, password_rule=PASSWORD_RULE), status


def render_login(*, email: str = "", next_url: str | None = None, error: str | None = None, status: int = 200):
    return render_template("login.html", email=email, next=next_url, error=error), status


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["REGISTER_LIMIT_PER_ADDRESS"], methods=["POST"], error_message=REGISTER_THROTTLED)
@shows_form_again(lambda error: render_register(email=kept("email"), error=error.message, status=error.status))
def register():
    """Show the sign-up form, or create the account; then the log-in page, with one notice for
    a new and a taken address alike."""
    if request.method == "GET":
        return render_register()
    email = request.form.get("email", "")
    try:
        account_store().create_user(email, request.form.get("password", ""))
    except Conflict:
        pass  # the same answer as for a new address; the password was hashed all the same
    except InvalidRequest as error:
        return render_register(email=email, error=error.message, status=error.status)
    flash(REGISTERED, "notice")
    return redirect(url_for("ui.login"), 303)


@bp.route("/login", methods=["GET", "POST"])
@shows_form_again(
    lambda error: render_login(email=kept("email"), next_url=safe_next(kept("next")), error=error.message, status=error.status)
)
def login():
    """Show the log-in form, or check the credentials and start a session."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user_id() is not None:
            return redirect(next_url or url_for("ui.index"))
        return render_login(next_url=next_url)
    email = request.form.get("email", "")
    account, address = email.strip().lower()[:320], client_address()
    throttle = login_throttle()
    if not throttle.allows(account, address):
        return render_login(email=email, next_url=next_url, error=THROTTLED, status=429)
    user = account_store().authenticate(email, request.form.get("password", ""))
    if user is None:
        throttle.failed(account, address)
        return render_login(email=email, next_url=next_url, error=BAD_CREDENTIALS, status=401)
    log_in(user)
    return redirect(next_url or url_for("ui.index"), 303)


@bp.post("/logout")
def logout():
    """End the session, here and on the server."""
    log_out()
    return redirect(url_for("ui.login"), 303)

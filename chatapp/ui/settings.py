"""The settings page: personal API tokens (created, shown once, revoked), the password, the
sessions (log out everywhere); your data (data.py).

Creating a token is POST-redirect-GET: the POST stores the token and keeps its plain text for
this browser session on the server (store/sessions.py) and marks the session cookie, then
redirects; the next settings page takes it away as it shows it (a page with nothing waiting
costs no statement for it), so neither a reload nor the back button shows it again or makes
another."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for

from ..caches import token_cache
from ..errors import InvalidRequest
from ..rules import PASSWORD_RULE
from ..services import account_store
from . import bp
from .forms import kept, shows_form_again
from .sessions import current_user_email, current_user_id, forget_sessions_of, log_in, log_out, login_required
from .threads import page_context
from .throttling import client_address, login_throttle

WRONG_PASSWORD = "The current password is incorrect."
THROTTLED = "Too many wrong passwords. Wait a few minutes, then try again."
REVEAL_WAITING = "token_reveal"  # in the signed session cookie: a new token waits to be shown


def render_settings(
    *,
    new_token: str | None = None,
    error: str | None = None,
    name: str = "",
    import_error: str | None = None,
    password_error: str | None = None,
    status: int = 200,
):
    tokens = account_store().list_tokens(current_user_id())
    html = render_template(
        "settings.html",
        tokens=tokens,
        new_token=new_token,
        error=error,
        name=name,
        import_error=import_error,
        password_error=password_error,
        password_rule=PASSWORD_RULE,
        **page_context(),
    )
    # A page showing a new token must not be kept by any cache.
    return html, status, {"Cache-Control": "no-store"}


def settings_again(field: str):
    """The settings page with a refused form's message beside that form (for shows_form_again)."""

    def render(error: InvalidRequest):
        if current_user_id() is None:
            return None
        if field == "name":
            return render_settings(error=error.message, name=kept("name"), status=error.status)
        return render_settings(password_error=error.message, status=error.status)

    return render


@bp.get("/settings")
@login_required
def settings():
    """The user's API tokens, password and sessions; a token just created, this once."""
    revealed = account_store().take_token_reveal(session["sid"]) if session.pop(REVEAL_WAITING, False) else None
    return render_settings(new_token=revealed[1] if revealed else None)


@bp.post("/settings/tokens")
@shows_form_again(settings_again("name"))
@login_required
def create_token():
    """Create an API token (stored as a hash) and redirect to the page that shows it once."""
    name, accounts = request.form.get("name", ""), account_store()
    try:
        with accounts.transaction():  # the token and its one showing land together
            record, plain = accounts.create_token(current_user_id(), name)
            accounts.keep_token_reveal(session["sid"], record.id, plain)
    except InvalidRequest as error:
        return render_settings(error=error.message, name=name, status=error.status)
    session[REVEAL_WAITING] = True  # so that only the next settings page looks for it
    return redirect(url_for("ui.settings"), 303)


@bp.post("/settings/tokens/<token_id>/revoke")
@login_required
def revoke_token(token_id: str):
    """Revoke one of the user's tokens (another user's token is not found)."""
    account_store().revoke_token(current_user_id(), token_id)
    flash("Token revoked. Programs using it can no longer reach the API.", "notice")
    return redirect(url_for("ui.settings"), 303)


@bp.post("/settings/password")
@shows_form_again(settings_again("password"))
@login_required
def change_password():
    """Change the password (the current one is asked first): every other session ends, this one
    goes on; API tokens stay unless the user asks to revoke them too."""
    user_id, email, address = current_user_id(), current_user_email() or "", client_address()
    throttle = login_throttle()
    if not throttle.allows(email, address):
        return render_settings(password_error=THROTTLED, status=429)
    accounts = account_store()
    if not accounts.check_password(user_id, request.form.get("current_password", "")):
        throttle.failed(email, address)
        return render_settings(password_error=WRONG_PASSWORD, status=400)
    revoke_tokens = request.form.get("revoke_tokens") == "yes"
    try:
        with accounts.transaction():  # the new password and the ended sessions land together
            accounts.set_password(user_id, email, request.form.get("new_password", ""))
            accounts.end_sessions(user_id)
            if revoke_tokens:
                accounts.revoke_tokens(user_id)
    except InvalidRequest as error:
        return render_settings(password_error=error.message, status=error.status)
    _forget_credentials_of(user_id, revoke_tokens)
    log_in(accounts.get_user(user_id))  # this browser goes on, in a new session
    flash(
        "Password changed. Every other session is logged out"
        + (" and your API tokens are revoked." if revoke_tokens else "; your API tokens still work."),
        "notice",
    )
    return redirect(url_for("ui.settings"), 303)


@bp.post("/settings/logout-everywhere")
@login_required
def logout_everywhere():
    """End every session of the user, this one included; API tokens only when asked."""
    user_id, accounts = current_user_id(), account_store()
    revoke_tokens = request.form.get("revoke_tokens") == "yes"
    with accounts.transaction():
        accounts.end_sessions(user_id)
        if revoke_tokens:
            accounts.revoke_tokens(user_id)
    _forget_credentials_of(user_id, revoke_tokens)
    log_out()
    flash(
        "You are logged out everywhere" + (", and your API tokens are revoked." if revoke_tokens else "; your API tokens still work."),
        "notice",
    )
    return redirect(url_for("ui.login"), 303)


def _forget_credentials_of(user_id: str, tokens: bool) -> None:
    """This process stops trusting the user's ended sessions (and revoked tokens) at once."""
    forget_sessions_of(user_id)
    if tokens:
        token_cache().forget_user(user_id)  # other processes drop it within API_TOKEN_CACHE_SECONDS

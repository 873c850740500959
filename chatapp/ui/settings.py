"""The settings page: personal API tokens, created (shown once) and revoked; your data (data.py)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from ..errors import InvalidRequest
from . import bp
from ..services import account_store
from .sessions import current_user_id, login_required
from .threads import page_context


def render_settings(
    *,
    new_token: str | None = None,
    error: str | None = None,
    name: str = "",
    import_error: str | None = None,
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
        **page_context(),
    )
    # A page showing a new token must not be kept by any cache.
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/settings")
@login_required
def settings():
    """The user's API tokens."""
    return render_settings()


@bp.post("/settings/tokens")
@login_required
def create_token():
    """Create an API token and show it, this once (it is stored only as a hash)."""
    name = request.form.get("name", "")
    try:
        _record, plain = account_store().create_token(current_user_id(), name)
    except InvalidRequest as error:
        return render_settings(error=error.message, name=name, status=error.status)
    return render_settings(new_token=plain, status=201)


@bp.post("/settings/tokens/<token_id>/revoke")
@login_required
def revoke_token(token_id: str):
    """Revoke one of the user's tokens (another user's token is not found)."""
    account_store().revoke_token(current_user_id(), token_id)
    flash("Token revoked. Programs using it can no longer reach the API.", "notice")
    return redirect(url_for("ui.settings"), 303)

"""Forms shown again: when the input check (chatapp/inputs.py) refuses a form before its view
runs, the page that holds the form comes back with the message, as for any other invalid input.

A view names its page with `@shows_form_again(render)`; `render(error)` returns the page, or
None when it cannot (no one signed in), and the plain error page answers instead.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request

from ..errors import ChatError, UnstorableText, error_response, wants_json
from ..rules import UNSTORABLE_TEXT
from . import bp

Renderer = Callable[[UnstorableText], object | None]


def shows_form_again(render: Renderer) -> Callable:
    def mark(view: Callable) -> Callable:
        view.show_form_again = render  # type: ignore[attr-defined]
        return view

    return mark


def kept(name: str, default: str = "") -> str:
    """A field's value to show again, without the characters that were refused."""
    return UNSTORABLE_TEXT.sub("", request.form.get(name, default))


@bp.errorhandler(UnstorableText)
def form_again(error: UnstorableText):
    view = current_app.view_functions.get(request.endpoint or "")
    render: Renderer | None = getattr(view, "show_form_again", None)
    page = None
    in_form = (error.details or {}).get("field") not in (None, "path") and request.method == "POST"
    if render is not None and in_form and not wants_json(request):
        try:
            page = render(error)
        except ChatError:  # the page itself cannot be shown (say, a chat that is not there)
            page = None
    if page is None:
        return error_response(error.status, error.code, error.message, error.details)
    return page

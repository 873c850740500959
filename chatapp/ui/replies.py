"""The assistant's reply in the browser: streamed to the page's script, or whole for plain forms.

The composer stores the user's message first (composer.py); the page's script then asks this
route to answer it and reads the reply as newline-delimited JSON (static/assistant.js). A
plain form (no script) gets the whole reply before the redirect back to the chat. A retry is
the same request for the same message.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, flash, jsonify, redirect, render_template, request, stream_with_context, url_for

from ..services import reply_service
from ..assistant.streaming import ReplyStream, ndjson_event
from ..assistant import ReplyFailed
from ..errors import InvalidRequest, error_body
from . import bp
from .sessions import current_user_id, login_required

NDJSON = "application/x-ndjson"


def wants_stream() -> bool:
    return request.accept_mimetypes.best_match(["text/html", NDJSON]) == NDJSON


def page_event(name: str, data: dict[str, Any]) -> str:
    """An NDJSON line; the final item also comes rendered, the way the page shows it."""
    if name == "assistant":
        data = {"item": data, "html": render_template("_item.html", item=data)}
    elif name == "error" and data.get("assistant"):
        data = {**data, "html": render_template("_item.html", item=data["assistant"])}
    return ndjson_event(name, data)


@bp.post("/t/<thread_id>/reply")
@login_required
def reply(thread_id: str):
    """Ask the assistant to answer a stored user message (after a send, or as a retry)."""
    item_id = request.form.get("item_id", "")
    if not item_id:
        raise InvalidRequest("Which message should the assistant answer?", {"field": "item_id"})
    if not wants_stream():
        answer_whole(thread_id, item_id)
        return redirect(url_for("ui.thread", thread_id=thread_id) + "#latest", 303)
    try:
        answer = reply_service().reply_to(current_user_id(), thread_id, item_id)
    except ReplyFailed as failure:
        body = error_body(failure.code, failure.message)
        body["html"] = render_template("_item.html", item=failure.assistant_item)
        return jsonify(body), failure.status
    stream = ReplyStream(current_app._get_current_object(), answer, page_event)
    response = Response(
        stream_with_context(stream),
        mimetype=NDJSON,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(stream.close)  # also when the body was never read
    return response


def answer_whole(thread_id: str, item_id: str) -> None:
    """The whole reply, for a page without its script; a failure is stored and flashed."""
    try:
        reply_service().reply_to(current_user_id(), thread_id, item_id).complete()
    except ReplyFailed as failure:
        flash(f"The assistant could not answer: {failure.message}", "error")

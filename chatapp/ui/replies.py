"""The assistant's reply in the browser: streamed to the page's script, or whole for plain forms.

The composer stores the user's message first (composer.py); the page's script then asks this
route to answer it and reads the reply as newline-delimited JSON (static/assistant.js). A
plain form (no script) gets the whole reply before the redirect back to the chat. A retry, or a
regenerate, is the same request for the same message: the new reply is another version of the
earlier ones, and replaces those that are only failure notices (assistant/service.py). The
reader's Stop aborts the script's request: the server sees the client go, and stores the
partial reply as incomplete (ReplyStream.close); the script then reads what was stored through
`items_after` (the branch after its question), so the page shows stored order.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app, jsonify, redirect, request, stream_with_context, url_for

from ..assistant import ReplyFailed
from ..assistant.streaming import ReplyStream, ndjson_event
from ..errors import InvalidRequest, error_body
from ..services import chat_store, reply_service
from . import bp
from .attachments import chips_for
from .rendering import item_html
from .sessions import current_user_id, login_required

log = logging.getLogger("chatapp")

NDJSON = "application/x-ndjson"
ITEMS_AFTER_PAGE = 20


def wants_stream() -> bool:
    return request.accept_mimetypes.best_match(["text/html", NDJSON]) == NDJSON


def page_event(name: str, data: dict[str, Any]) -> str:
    """An NDJSON line; the final item also comes rendered, the way the page shows it (with its
    versions: a regenerated reply shows `< 2/2 >`)."""
    if name == "assistant":
        data = {"item": data, "html": reply_html(data)}
    elif name == "error" and data.get("assistant"):
        data = {**data, "html": reply_html(data["assistant"])}
    return ndjson_event(name, data)


def reply_html(item: dict[str, Any]) -> str:
    """A stored reply, the last item of the branch, as the page shows it."""
    shown = chat_store().get_branch_item(current_user_id(), item["thread_id"], item["id"])
    return item_html(shown, is_last=True)


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
        body["html"] = reply_html(failure.assistant_item.to_dict())
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
    """The whole reply, for a page without its script. A failure is stored as an error item,
    which the thread shows in plain words with a Retry button."""
    try:
        reply_service().reply_to(current_user_id(), thread_id, item_id).complete()
    except ReplyFailed as failure:
        log.info("reply to %s failed (%s); the thread shows the error item", item_id, failure.code)


@bp.get("/t/<thread_id>/items")
@login_required
def items_after(thread_id: str):
    """The items of the chat's branch after the item `after`, with their HTML, for the page's script."""
    store, user_id = chat_store(), current_user_id()
    page = store.list_branch(
        user_id, thread_id, after=request.args.get("after") or None, limit=ITEMS_AFTER_PAGE, order="asc"
    )
    chips = chips_for(store, user_id, page.data)
    last = len(page.data) - 1
    items = [
        {"item": item.to_dict(), "html": item_html(item, attachments=chips, is_last=index == last and not page.has_more)}
        for index, item in enumerate(page.data)
    ]
    return jsonify({"items": items, "has_more": page.has_more})

"""The send path shared by the start page, the thread page and an edit: check, store, answer.

The assistant's reply hooks in after `post_user_message` (see `sent_response`): a plain form
(no script) gets the whole reply before its redirect back to the thread; the page's script gets
JSON with the stored item, its HTML and the URLs it needs, announces the sent message to other
scripts (static/chat.js), and static/assistant.js streams the reply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flask import current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import FileStorage

from ..errors import ChatError, InvalidRequest, error_body, wants_json
from ..services import chat_store
from ..store import ChatStore, ItemRecord, ThreadRecord
from .attachments import chips_for, read_uploads, save_uploads
from .rendering import item_html
from .replies import answer_whole
from .sessions import current_user_id


def check_message(content: str) -> None:
    """The composer's own checks, worded for people (the store enforces the same limits)."""
    if not content.strip():
        raise InvalidRequest("Type a message before sending.", {"field": "content"})
    limit = current_app.config["MAX_MESSAGE_CHARS"]
    if len(content) > limit:
        raise InvalidRequest(
            f"Messages are limited to {limit:,} characters; this one has {len(content):,}.",
            {"field": "content", "limit": limit},
        )


def post_user_message(
    store: ChatStore,
    user_id: str,
    thread_id: str,
    content: str,
    item_id: str | None,
    files: Sequence[FileStorage] = (),
) -> tuple[ItemRecord, bool]:
    """Store the user's message with its attached files; True when it is new. `item_id` comes
    from the form, so a resubmit adds nothing twice (and asks for no second reply)."""
    check_message(content)
    uploads = read_uploads(files)
    item_id = item_id or ChatStore.new_item_id("message")
    with store.transaction():  # the files and the message that names them, or neither
        named = save_uploads(store, user_id, thread_id, item_id, uploads)
        return store.add_item(
            user_id, thread_id, content=content, role="user", item_id=item_id,
            metadata={"attachments": named} if named else None,
        )


def new_composer_ids(new_thread: bool = False) -> dict[str, str]:
    """Fresh ids for the composer's hidden fields: they make a resubmitted form idempotent."""
    ids = {"item_id": ChatStore.new_item_id("message")}
    if new_thread:
        ids["thread_id"] = ChatStore.new_thread_id()
    return ids


def sent_response(thread: ThreadRecord, item: ItemRecord, *, new_item: bool, new_thread: bool = False):
    """A plain form gets the reply, then a redirect to the thread; the page's script gets JSON."""
    thread_url = url_for("ui.thread", thread_id=thread.id)
    if not wants_json(request):
        if new_item:
            answer_whole(thread.id, item.id)
        return redirect(thread_url + "#latest", 303)
    store, user_id = chat_store(), current_user_id()
    shown = store.get_branch_item(user_id, thread.id, item.id)  # with its versions (an edit has some)
    body = {
        "item": item.to_dict(),
        "html": item_html(shown, attachments=chips_for(store, user_id, [shown])),
        "thread": thread.to_dict(),
        "thread_url": thread_url,
        "post_url": url_for("ui.send_message", thread_id=thread.id),
        "reply_url": url_for("ui.reply", thread_id=thread.id),
        "items_url": url_for("ui.items_after", thread_id=thread.id),
        "next_item_id": ChatStore.new_item_id("message"),
    }
    if new_thread:
        body["sidebar_html"] = render_template("_thread_link.html", thread=thread, active_thread_id=thread.id)
        body["header_html"] = render_template("_thread_header.html", thread=thread)
    return jsonify(body), 201


def composer_error(error: ChatError, draft: str, render_page: Callable[..., object]):
    """An unsendable message: JSON for the script, else `render_page` again with the error and the
    text kept as the draft (a page cannot keep chosen files: it says so)."""
    if wants_json(request):
        return jsonify(error_body(error.code, error.message, error.details)), error.status
    message = error.message
    if any(file.filename for file in request.files.getlist("files")):
        message += " Attach your files again."
    return render_page(error=message, draft=draft, status=error.status)

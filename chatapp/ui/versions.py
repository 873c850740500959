"""Versions in the chat UI: edit and resend a message, and browse the versions of a message (`< 1/2 >`).

Editing a message stores the new text as another version of it (the same parent) and the reply
follows it, so the conversation continues from the edit while the old branch stays a version
away. Regenerating a reply is the reply route again (replies.py). Each is a plain form that
works without the page's script (POST, redirect, GET); static/versions.js does them in place.
"""

from __future__ import annotations

import functools

from flask import jsonify, redirect, render_template, request, url_for

from ..errors import InvalidRequest, PayloadTooLarge, wants_json
from ..rules import attachment_ids
from ..services import chat_store
from ..store import ChatStore, ItemRecord
from . import bp
from .composer import check_message, composer_error, new_composer_ids, sent_response
from .sessions import current_user_id, login_required
from .threads import page_context


def editable(store: ChatStore, user_id: str, thread_id: str, item_id: str) -> ItemRecord:
    """The user message to edit; only your own messages (not replies or tool items) can be."""
    item = store.get_item(user_id, thread_id, item_id)
    if item.type != "message" or item.role != "user":
        raise InvalidRequest("Only your own messages can be edited.", {"field": "item_id"})
    return item


def render_edit(thread_id: str, item_id: str, *, error: str | None = None, draft: str | None = None, status: int = 200):
    store, user_id = chat_store(), current_user_id()
    item = editable(store, user_id, thread_id, item_id)
    thread = store.get_thread(user_id, thread_id)
    return (
        render_template(
            "edit_message.html",
            thread=thread,
            item=item,
            draft=item.content if draft is None else draft,
            error=error,
            composer=new_composer_ids(),
            **page_context(thread_id),
        ),
        status,
    )


@bp.get("/t/<thread_id>/items/<item_id>/edit")
@login_required
def edit_message(thread_id: str, item_id: str):
    """A form to edit one of your messages and send it again."""
    return render_edit(thread_id, item_id)


@bp.post("/t/<thread_id>/items/<item_id>/edit")
@login_required
def resend_message(thread_id: str, item_id: str):
    """Send an edited message: a new version of it, with its files, that the conversation continues
    from (and, for a plain form, its reply); the old version and what followed it stay."""
    store, user_id = chat_store(), current_user_id()
    original = editable(store, user_id, thread_id, item_id)
    content = request.form.get("content", "")
    named = attachment_ids(original.metadata)
    try:
        check_message(content)
        item, new_item = store.add_item(
            user_id,
            thread_id,
            role="user",
            content=content,
            item_id=request.form.get("item_id") or None,
            parent_id=original.parent_id,
            metadata={"attachments": named} if named else None,
        )
    except (InvalidRequest, PayloadTooLarge) as error:
        return composer_error(error, content, functools.partial(render_edit, thread_id, item_id))
    return sent_response(store.get_thread(user_id, thread_id), item, new_item=new_item)


@bp.post("/t/<thread_id>/versions")
@login_required
def switch_version(thread_id: str):
    """Show another version of a message, with the conversation that followed it."""
    raw = request.form.get("version", "")
    if not raw.isdigit():
        raise InvalidRequest("Which version should the chat show?", {"field": "version"})
    selected = chat_store().select_branch(
        current_user_id(), thread_id, request.form.get("item_id", ""), version=int(raw)
    )
    if wants_json(request):
        return jsonify({"item": selected.to_dict(), "thread_url": url_for("ui.thread", thread_id=thread_id)})
    return redirect(url_for("ui.thread", thread_id=thread_id, _anchor=selected.id), 303)

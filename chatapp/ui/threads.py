"""Chat pages: the start page, the list of chats, a chat with its messages, rename and delete."""

from __future__ import annotations

import functools

from flask import flash, redirect, render_template, request, url_for

from ..errors import Conflict, InvalidRequest, PayloadTooLarge
from ..services import chat_store
from ..store import ChatStore
from . import bp
from .attachments import chips_for
from .composer import (
    check_message,
    composer_error,
    new_composer_ids,
    post_user_message,
    sent_response,
)
from .forms import kept, shows_form_again
from .sessions import current_user_email, current_user_id, login_required

SIDEBAR_PAGE = 30
THREADS_PAGE = 30
ITEMS_PAGE = 50


def page_context(active_thread_id: str | None = None) -> dict:
    """What every signed-in page shows: the sidebar's first page of chats and who is signed in."""
    return {
        "sidebar": chat_store().list_threads(current_user_id(), limit=SIDEBAR_PAGE),
        "active_thread_id": active_thread_id,
        "user_email": current_user_email(),
    }


def render_home(*, error: str | None = None, draft: str = "", status: int = 200):
    return (
        render_template(
            "home.html", error=error, draft=draft, composer=new_composer_ids(new_thread=True), **page_context()
        ),
        status,
    )


def render_thread(
    thread_id: str,
    *,
    before: str | None = None,
    at: str | None = None,
    error: str | None = None,
    draft: str = "",
    status: int = 200,
):
    """The thread page: a keyset page of the newest items of its branch (or those before `before`,
    or the path up to and with `at`, a search hit, on whichever branch it is), oldest first, with
    their versions and attachments."""
    store, user_id = chat_store(), current_user_id()
    thread = store.get_thread(user_id, thread_id)
    if at is not None:
        hit = store.get_branch_item(user_id, thread_id, at)
        page = store.list_branch(user_id, thread_id, order="desc", limit=ITEMS_PAGE - 1, after=at)
        shown = [hit, *page.data]
    else:
        page = store.list_branch(user_id, thread_id, order="desc", limit=ITEMS_PAGE, after=before)
        shown = page.data
    return (
        render_template(
            "thread.html",
            thread=thread,
            items=list(reversed(shown)),
            attachments=chips_for(store, user_id, shown),
            earlier=page.after,
            paged_back=before is not None or at is not None,
            error=error,
            draft=draft,
            composer=new_composer_ids(),
            **page_context(thread_id),
        ),
        status,
    )


@bp.get("/")
@login_required
def index():
    """The start page: recent chats in the sidebar and a composer that starts a new chat."""
    return render_home()


@bp.get("/threads")
@login_required
def threads():
    """All chats, most recently active first, a keyset page at a time."""
    page = chat_store().list_threads(current_user_id(), limit=THREADS_PAGE, after=request.args.get("after") or None)
    return render_template("threads.html", page=page, **page_context())


def home_again(error: InvalidRequest):
    """The start page with a refused first message kept as the draft (for shows_form_again)."""
    if current_user_id() is None:
        return None
    return render_home(error=error.message, draft=kept("content"), status=error.status)


def thread_again(error: InvalidRequest):
    """The chat with a refused message or title and its reason (for shows_form_again)."""
    if current_user_id() is None:
        return None
    return render_thread(request.view_args["thread_id"], error=error.message, draft=kept("content"), status=error.status)


@bp.post("/threads")
@shows_form_again(home_again)
@login_required
def create_thread():
    """Start a chat with its first message and its files (and, for a plain form, its reply); a
    resubmitted form lands in the same chat."""
    store, user_id = chat_store(), current_user_id()
    content = request.form.get("content", "")
    try:
        check_message(content)
        with store.transaction():  # the chat and its first message, or neither: no empty chats
            thread_id = _start_thread(store, user_id, request.form.get("thread_id") or None)
            item, new_item = post_user_message(
                store, user_id, thread_id, content, request.form.get("item_id"), request.files.getlist("files")
            )
    except (InvalidRequest, PayloadTooLarge) as error:
        return composer_error(error, content, render_home)
    # After the unit of work: the reply (for a plain form) reads and stores in transactions of its own.
    return sent_response(store.get_thread(user_id, thread_id), item, new_item=new_item, new_thread=True)


def _start_thread(store: ChatStore, user_id: str, thread_id: str | None) -> str:
    try:
        return store.create_thread(user_id, thread_id=thread_id).id
    except Conflict:
        return store.get_thread(user_id, thread_id).id  # our own earlier submit, else NotFound


@bp.get("/t/<thread_id>")
@login_required
def thread(thread_id: str):
    """A chat: the newest messages of its branch, oldest at top; "Load earlier" pages back by keyset;
    `at` shows the path that ends with that message (a search result)."""
    return render_thread(thread_id, before=request.args.get("before") or None, at=request.args.get("at") or None)


@bp.post("/t/<thread_id>/messages")
@shows_form_again(thread_again)
@login_required
def send_message(thread_id: str):
    """Append the user's message and its files to the chat (and, for a plain form, its reply)."""
    store, user_id = chat_store(), current_user_id()
    content = request.form.get("content", "")
    try:
        item, new_item = post_user_message(
            store, user_id, thread_id, content, request.form.get("item_id"), request.files.getlist("files")
        )
    except (InvalidRequest, PayloadTooLarge) as error:
        return composer_error(error, content, functools.partial(render_thread, thread_id))
    return sent_response(store.get_thread(user_id, thread_id), item, new_item=new_item)


@bp.post("/t/<thread_id>/rename")
@shows_form_again(thread_again)
@login_required
def rename_thread(thread_id: str):
    """Give the chat a title of the user's choosing (empty: untitled)."""
    try:
        chat_store().update_thread(current_user_id(), thread_id, title=request.form.get("title", ""))
    except InvalidRequest as error:
        flash(error.message, "error")
    return redirect(url_for("ui.thread", thread_id=thread_id), 303)


@bp.get("/t/<thread_id>/delete")
@login_required
def confirm_delete(thread_id: str):
    """Ask before deleting the chat."""
    thread = chat_store().get_thread(current_user_id(), thread_id)
    return render_template("confirm_delete.html", thread=thread, **page_context(thread_id))


@bp.post("/t/<thread_id>/delete")
@login_required
def delete_thread(thread_id: str):
    """Delete the chat with all its messages."""
    chat_store().delete_thread(current_user_id(), thread_id)
    flash("Chat deleted.", "notice")
    return redirect(url_for("ui.index"), 303)

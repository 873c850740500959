"""Search, export and import in the browser: the results page, downloads and the import form."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, redirect, render_template, request, url_for
from markupsafe import Markup

from ..errors import Conflict, InvalidRequest, PayloadTooLarge
from ..services import chat_store
from ..transfer.document import parse_document
from ..transfer.export import all_threads_zip, chunked, download, thread_json, thread_markdown
from ..transfer.importing import import_document
from . import bp
from .sessions import current_user_id, login_required
from .settings import render_settings
from .threads import page_context

SEARCH_PAGE = 20
EXPORT_FORMATS = {"json": ("application/json", "json"), "markdown": ("text/markdown", "md")}


@bp.get("/search")
@login_required
def search():
    """Search the user's messages in all their chats, best match first, a keyset page at a time."""
    q = request.args.get("q", "")
    page, error, status = None, None, 200
    if q.strip():
        try:
            page = chat_store().search(current_user_id(), q, limit=SEARCH_PAGE, after=request.args.get("after") or None)
        except InvalidRequest as exc:
            error, status = exc.message, exc.status
    # The store's snippets are escaped HTML whose only markup is <mark> (store/search.py).
    hits = [(hit, Markup(hit.snippet)) for hit in page.data] if page else []
    return render_template("search.html", q=q, page=page, hits=hits, error=error, **page_context()), status


@bp.get("/t/<thread_id>/export")
@login_required
def export_thread(thread_id: str):
    """Download the chat with all its messages: JSON (importable again) or Markdown."""
    kind = request.args.get("format", "json")
    if kind not in EXPORT_FORMATS:
        raise InvalidRequest("format must be json or markdown", {"field": "format"})
    store, user_id = chat_store(), current_user_id()
    thread = store.get_thread(user_id, thread_id)  # another user's chat: 404 before any byte
    mimetype, extension = EXPORT_FORMATS[kind]
    pieces = thread_markdown(store, user_id, thread) if kind == "markdown" else thread_json(store, user_id, thread)
    return download(chunked(pieces), mimetype, f"{thread.id}.{extension}")


@bp.get("/settings/export")
@login_required
def export_everything():
    """Download all the user's chats, with their attachments: a ZIP of one JSON file per chat."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    chunks = all_threads_zip(chat_store(), current_user_id(), with_content=True)
    return download(chunks, "application/zip", f"chatapp-export-{stamp}.zip")


@bp.post("/settings/import")
@login_required
def import_thread():
    """Import a chat from a JSON file exported by chatapp, as a new chat; a bad file imports nothing."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_settings(import_error="Choose a chat file exported from chatapp (.json).", status=400)
    try:
        result = import_document(chat_store(), current_user_id(), parse_document(upload.read()))
    except (InvalidRequest, Conflict, PayloadTooLarge) as exc:
        return render_settings(import_error=f"That file cannot be imported: {exc.message}", status=exc.status)
    title = result.thread.title or "New chat"
    flash(f"Imported “{title}”: {result.items} messages.", "notice")
    return redirect(url_for("ui.thread", thread_id=result.thread.id), 303)

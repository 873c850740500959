"""Export and import routes: a thread as JSON or Markdown, all threads as a ZIP, a thread back in."""

from __future__ import annotations

from datetime import UTC, datetime

from ..errors import InvalidRequest
from ..services import chat_store
from ..transfer.document import ImportResult, ThreadDocument
from ..transfer.export import all_threads_zip, chunked, download, thread_json, thread_markdown
from ..transfer.importing import import_document
from .registry import api
from .responses import record_response
from .schemas import ExportAllQuery, ExportQuery, ImportQuery

DOCUMENT = {"schema": {"$ref": "#/components/schemas/ThreadDocument"}}
EXPORT_CONTENT = {"application/json": DOCUMENT, "text/markdown": {"schema": {"type": "string"}}}
# The answer is application/zip; documented as bytes (what generated clients read), as downloads are.
BINARY = {"schema": {"type": "string", "format": "binary"}}
ZIP_CONTENT = {"application/octet-stream": BINARY, "*/*": BINARY}


@api.route("/threads/<thread_id>/export", "GET", query=ExportQuery, response_content=EXPORT_CONTENT, tag="transfer")
def export_thread(user_id: str, thread_id: str, query: ExportQuery):
    """Download one thread with all its items in order, as JSON (importable) or Markdown.

    The JSON document carries the thread, every item (id, seq, type, role, content, metadata,
    created_at) and its attachments' metadata; with `include=attachments` also their bytes
    (base64). The answer streams, so a thread of any length is read a batch at a time.
    """
    store = chat_store()
    thread = store.get_thread(user_id, thread_id)  # a missing thread is a 404 before streaming
    with_content = query.include == "attachments"
    if query.format == "markdown":
        if with_content:
            raise InvalidRequest("include=attachments needs format=json", {"field": "include"})
        return download(chunked(thread_markdown(store, user_id, thread)), "text/markdown", f"{thread.id}.md")
    chunks = chunked(thread_json(store, user_id, thread, with_content=with_content))
    return download(chunks, "application/json", f"{thread.id}.json")


@api.route("/export", "GET", query=ExportAllQuery, response_content=ZIP_CONTENT, tag="transfer")
def export_everything(user_id: str, query: ExportAllQuery):
    """Download all the caller's threads: a ZIP of one JSON document per thread ("download my data")."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    chunks = all_threads_zip(chat_store(), user_id, with_content=query.include == "attachments")
    return download(chunks, "application/zip", f"chatapp-export-{stamp}.zip")


@api.route(
    "/threads/import",
    "POST",
    query=ImportQuery,
    body=ThreadDocument,
    response=ImportResult,
    status=201,
    errors=(409,),
    tag="transfer",
    body_limit="MAX_IMPORT_BYTES",
)
def import_thread(user_id: str, query: ImportQuery, body: ThreadDocument):
    """Import a thread document (an export) as a new thread with the same items in the same order.

    Times, seqs, roles, types, content and metadata are kept; ids are new unless
    `keep_ids=true`, which answers 409 when the thread or an attachment id exists. Attachments
    come in only with their bytes (`include=attachments` exports). A bad document imports
    nothing. Bodies up to MAX_IMPORT_BYTES.
    """
    result = import_document(chat_store(), user_id, body, keep_ids=query.keep_ids)
    return record_response(result, 201)

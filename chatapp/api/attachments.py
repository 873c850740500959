"""Attachment routes: upload (multipart), read metadata, download the bytes, delete."""

from __future__ import annotations

from flask import current_app

from ..errors import PayloadTooLarge
from ..files import clean_content_type, clean_filename, download_response
from ..services import chat_store
from ..store import AttachmentRecord
from .registry import api
from .responses import no_content, record_response
from .schemas import AttachmentUpload

# Sent with the media type stored for the file (any type, hence */*); documented as bytes first,
# so that generated clients hand back the bytes whatever the type.
BINARY = {"schema": {"type": "string", "format": "binary"}}
DOWNLOAD_CONTENT = {"application/octet-stream": BINARY, "*/*": BINARY}


@api.route(
    "/attachments",
    "POST",
    form=AttachmentUpload,
    response=AttachmentRecord,
    status=201,
    errors=(404,),
    tag="attachments",
)
def upload_attachment(user_id: str, form: AttachmentUpload):
    """Upload a file (multipart field `file`), optionally tied to one of the caller's threads."""
    limit = current_app.config["MAX_ATTACHMENT_BYTES"]
    content = form.file.stream.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"Attachments are limited to {limit} bytes.", {"field": "file", "limit": limit})
    record = chat_store().save_attachment(
        user_id,
        filename=clean_filename(form.file.filename),
        content_type=clean_content_type(form.file.mimetype),
        content=content,
        thread_id=form.thread_id,
    )
    return record_response(record, 201)


@api.route("/attachments/<attachment_id>", "GET", response=AttachmentRecord, tag="attachments")
def get_attachment(user_id: str, attachment_id: str):
    """Read an attachment's metadata."""
    return record_response(chat_store().get_attachment(user_id, attachment_id))


@api.route(
    "/attachments/<attachment_id>/content", "GET", response_content=DOWNLOAD_CONTENT, tag="attachments"
)
def get_attachment_content(user_id: str, attachment_id: str):
    """Download an attachment's bytes, with its stored content type, as a download."""
    record, content = chat_store().get_attachment_content(user_id, attachment_id)
    return download_response(record, content)


@api.route("/attachments/<attachment_id>", "DELETE", status=204, tag="attachments")
def delete_attachment(user_id: str, attachment_id: str):
    """Delete an attachment."""
    chat_store().delete_attachment(user_id, attachment_id)
    return no_content()

"""Attachment routes: upload (multipart), read metadata, download the bytes, delete."""

from __future__ import annotations

import io
import re

from flask import current_app, send_file

from ..errors import PayloadTooLarge
from ..rules import MAX_FILENAME_CHARS
from ..services import chat_store
from .registry import api
from .responses import no_content, record_response
from ..store import AttachmentRecord
from .schemas import AttachmentUpload

MIME_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Sent with the media type stored for the file (any type, hence */*); documented as bytes first,
# so that generated clients hand back the bytes whatever the type.
BINARY = {"schema": {"type": "string", "format": "binary"}}
DOWNLOAD_CONTENT = {"application/octet-stream": BINARY, "*/*": BINARY}


def clean_filename(raw: str | None) -> str:
    """The client's file name without directories or control characters, cut to the stored limit."""
    name = CONTROL_CHARACTERS.sub("", (raw or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:MAX_FILENAME_CHARS] or "upload"


def clean_content_type(raw: str | None) -> str:
    """The declared media type when it is a plain `type/subtype`, else application/octet-stream."""
    return raw.lower() if raw and MIME_TYPE.match(raw) else DEFAULT_CONTENT_TYPE


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
    response = send_file(
        io.BytesIO(content),
        mimetype=record.content_type,
        as_attachment=True,
        download_name=record.filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@api.route("/attachments/<attachment_id>", "DELETE", status=204, tag="attachments")
def delete_attachment(user_id: str, attachment_id: str):
    """Delete an attachment."""
    chat_store().delete_attachment(user_id, attachment_id)
    return no_content()

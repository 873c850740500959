"""Stored files over HTTP, for the API and the UI: names and types cleaned on the way in, and the
answers that hand them out inert on the way out (a download, or an image thumbnail)."""

from __future__ import annotations

import io
import re

from flask import Response, send_file

from .errors import NotFound
from .rules import MAX_FILENAME_CHARS, image_type
from .store import AttachmentRecord

MIME_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# An image shown inside a page: nothing in it may run, load or be framed elsewhere.
THUMBNAIL_POLICY = "default-src 'none'; sandbox"
THUMBNAIL_MAX_AGE = 3600


def clean_filename(raw: str | None) -> str:
    """The client's file name without directories or control characters, cut to the stored limit."""
    name = CONTROL_CHARACTERS.sub("", (raw or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:MAX_FILENAME_CHARS] or "upload"


def clean_content_type(raw: str | None) -> str:
    """The declared media type when it is a plain `type/subtype`, else application/octet-stream."""
    return raw.lower() if raw and MIME_TYPE.match(raw) else DEFAULT_CONTENT_TYPE


def download_response(record: AttachmentRecord, content: bytes) -> Response:
    """The bytes as a download (Content-Disposition: attachment) with the stored type, never sniffed."""
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


def thumbnail_response(record: AttachmentRecord, content: bytes) -> Response:
    """A PNG, JPEG, GIF or WebP image to show inline, typed by its bytes (not by what was declared),
    with nosniff and a policy that lets nothing in it run; NotFound for any other file."""
    media_type = image_type(content)
    if media_type is None:
        raise NotFound("This attachment is not an image that can be shown.")
    response = Response(content, mimetype=media_type)
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = THUMBNAIL_POLICY
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Cache-Control"] = f"private, max-age={THUMBNAIL_MAX_AGE}"
    return response

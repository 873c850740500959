"""Attachments in the chat UI: files sent with a message, their chips, downloads and thumbnails.

The composer posts files (multipart field `files`, the button or a drop) with the message; they
are stored with it in one unit of work and named in its metadata (`attachments`, see
rules.attachment_ids). Their ids come from the message's id, so a resubmitted form stores nothing
twice. Downloads answer like the API's (an attachment, nosniff); thumbnails only for PNG, JPEG,
GIF and WebP told by the bytes, with nosniff and a policy under which nothing runs (files.py).
Every read is scoped to the signed-in user: another user's file is a 404.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from werkzeug.datastructures import FileStorage

from ..errors import InvalidRequest, PayloadTooLarge
from ..files import clean_content_type, clean_filename, download_response, thumbnail_response
from ..rules import IMAGE_MAGIC_BYTES, MAX_ATTACHMENTS_PER_MESSAGE, attachment_ids, image_type
from ..services import chat_store
from ..store import ChatStore
from . import bp
from .sessions import current_user_id, login_required


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class AttachmentChip:
    """What a message shows of one attachment."""

    id: str
    filename: str
    size: int
    image: bool  # a PNG, JPEG, GIF or WebP by its bytes: shown as a thumbnail


def read_uploads(files: Sequence[FileStorage]) -> list[Upload]:
    """The files a form sent (a file field left empty sends a nameless, empty part: skipped),
    each within MAX_ATTACHMENT_BYTES, at most MAX_ATTACHMENTS_PER_MESSAGE of them."""
    chosen = [file for file in files if file.filename]
    if len(chosen) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise InvalidRequest(
            f"Attach at most {MAX_ATTACHMENTS_PER_MESSAGE} files to a message; this one has {len(chosen)}.",
            {"field": "files", "limit": MAX_ATTACHMENTS_PER_MESSAGE},
        )
    limit = current_app.config["MAX_ATTACHMENT_BYTES"]
    uploads = []
    for file in chosen:
        content = file.stream.read(limit + 1)
        name = clean_filename(file.filename)
        if len(content) > limit:
            raise PayloadTooLarge(
                f"“{name}” is larger than the {limit:,}-byte limit for attachments.", {"field": "files", "limit": limit}
            )
        uploads.append(Upload(name, clean_content_type(file.mimetype), content))
    return uploads


def attachment_id_for(thread_id: str, item_id: str, index: int) -> str:
    """The id of a message's `index`-th attachment: the same for every submit of one form."""
    digest = hashlib.sha256(f"{thread_id}/{item_id}".encode()).hexdigest()[:32]
    return f"att_{digest}_{index}"


def save_uploads(store: ChatStore, user_id: str, thread_id: str, item_id: str, uploads: Sequence[Upload]) -> list[str]:
    """Store the files in the thread; their ids, for the message's metadata. Call it in the unit
    of work that stores the message."""
    return [
        store.save_attachment(
            user_id,
            filename=upload.filename,
            content_type=upload.content_type,
            content=upload.content,
            thread_id=thread_id,
            attachment_id=attachment_id_for(thread_id, item_id, index),
        ).id
        for index, upload in enumerate(uploads)
    ]


def chips_for(store: ChatStore, user_id: str, items: Iterable[Any]) -> dict[str, AttachmentChip]:
    """The chips of the attachments the items name, by id (one statement; none when no item names one)."""
    named = [attachment_id for item in items for attachment_id in attachment_ids(_metadata(item))]
    return {
        record.id: AttachmentChip(record.id, record.filename, record.size, image_type(head) is not None)
        for record, head in store.read_attachments(user_id, named, max_bytes=IMAGE_MAGIC_BYTES)
    }


def _metadata(item: Any) -> Any:
    return item.get("metadata") if isinstance(item, dict) else item.metadata


@bp.get("/attachments/<attachment_id>")
@login_required
def download_attachment(attachment_id: str):
    """Download one of your attachments (never shown inline)."""
    record, content = chat_store().get_attachment_content(current_user_id(), attachment_id)
    return download_response(record, content)


@bp.get("/attachments/<attachment_id>/thumbnail")
@login_required
def attachment_thumbnail(attachment_id: str):
    """One of your images, to show in the page; 404 for a file that is not a PNG, JPEG, GIF or WebP."""
    record, content = chat_store().get_attachment_content(current_user_id(), attachment_id)
    return thumbnail_response(record, content)

"""Pydantic models of the API's requests, and its error shape: they validate input and document it.

Request models forbid unknown fields and are strict about types (JSON bodies) or coerce only
what a query string must (limits). Their field types come from chatapp/rules.py, the rules the
store applies too. Answers are the store's records themselves (chatapp/store/records.py): the
registry serializes and documents them from the records' own types.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from werkzeug.datastructures import FileStorage

from ..rules import Cursor, Id, ItemType, JsonValue, Metadata, Order, PageLimit, Role, SearchText, Title


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    """Query strings are text: numbers are coerced, unknown parameters refused."""

    model_config = ConfigDict(extra="forbid")


class ThreadCreate(RequestModel):
    title: Title | None = None
    metadata: Metadata | None = None


class ThreadUpdate(RequestModel):
    """Only the fields sent change; `"title": null` clears the title."""

    title: Title | None = None
    metadata: Metadata | None = None


class ThreadListQuery(QueryModel):
    limit: PageLimit = 20
    after: Id | None = Field(None, description="The last thread id of the previous page.")
    order: Literal["desc", "asc"] = Field("desc", description="desc: most recently active first.")


PARENT_ID = (
    "The item the new one follows. Not sent: the thread's leaf (the end of the branch it shows), so "
    "a client that never sends it builds one straight branch. null: a new first item. To add a version "
    "of an item (an edit), send that item's parent_id. The new item becomes the thread's leaf."
)


class ItemCreate(RequestModel):
    """A message needs a role and non-empty string content (at most MAX_MESSAGE_CHARS)."""

    id: Id | None = Field(None, description="A client-chosen id: re-sending it with the same body is a no-op.")
    type: ItemType = "message"
    role: Role | None = None
    content: Annotated[JsonValue, Field(description="A string for messages; any JSON value for other types.")]
    metadata: Metadata | None = None
    parent_id: Id | None = Field(None, description=PARENT_ID)


class ItemUpdate(RequestModel):
    """Only the fields sent change; the item's seq, type and role stay."""

    content: JsonValue | None = None
    metadata: Metadata | None = None


class ItemListQuery(QueryModel):
    limit: PageLimit = 50
    after: Id | None = Field(None, description="The last item id of the previous page.")
    order: Order = Field("asc", description="asc: oldest (lowest seq) first.")


class SearchQuery(QueryModel):
    q: SearchText
    limit: PageLimit = 20
    after: Cursor | None = None


class ExportQuery(QueryModel):
    format: Literal["json", "markdown"] = Field("json", description="json: the importable document.")
    include: Literal["attachments"] | None = Field(None, description="attachments: their bytes too (JSON only).")


class ExportAllQuery(QueryModel):
    include: Literal["attachments"] | None = Field(None, description="attachments: their bytes too.")


class ImportQuery(QueryModel):
    keep_ids: bool = Field(False, description="Keep the document's ids (409 when one exists) instead of new ones.")


class BranchQuery(QueryModel):
    limit: PageLimit = 50
    after: Id | None = Field(None, description="The last item id of the previous page.")
    order: Order = Field(
        "desc",
        description="desc: from the leaf, newest first; each page costs the same however long the branch. "
        "asc: from the first item; a page walks the branch from the leaf down to its cursor.",
    )


class VersionListQuery(QueryModel):
    limit: PageLimit = 50
    after: Id | None = Field(None, description="The last item id of the previous page.")


class BranchSelect(RequestModel):
    """Which branch the thread shows: the one through `item_id`, or through its `version`-th version."""

    item_id: Id
    version: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Show this version of the item instead (1 = the oldest; see BranchItem.versions)."
    )


class AttachmentUpload(BaseModel):
    """multipart/form-data: the file, and optionally the thread it belongs to."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    file: Annotated[FileStorage, WithJsonSchema({"type": "string", "format": "binary"})]
    thread_id: Id | None = None


class ErrorDetail(BaseModel):
    code: str = Field(description="unauthorized, not_found, invalid_request, conflict, payload_too_large, ...")
    message: str
    details: object = Field(None, description="For invalid requests: the offending `field` and all `errors`.")


class ErrorResponse(BaseModel):
    error: ErrorDetail

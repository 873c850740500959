"""Pydantic models of the API's requests and answers: they validate input and generate the spec.

Request models forbid unknown fields and are strict about types (JSON bodies) or coerce only
what a query string must (limits). Answers are serialized from the store's records with
`to_dict()`; the answer models here describe those shapes for the OpenAPI document, and the
tests check the real answers against them.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from werkzeug.datastructures import FileStorage

from ..ids import MAX_ID_LENGTH
from ..store import ROLES

ID_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,%d}$" % (MAX_ID_LENGTH - 1)
TYPE_REGEX = r"^[a-z][a-z0-9_.-]{0,63}$"
NO_NUL_REGEX = r"^[^\x00]*$"
MAX_JSON_INTEGER = 2**63 - 1


def check_storable_json(value: Any) -> Any:
    """Refuse JSON that a database or orjson cannot keep: NUL in strings, NaN/Infinity, huge ints."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if "\x00" in current:
                raise ValueError("strings must not contain the NUL character (\\u0000)")
        elif isinstance(current, bool) or current is None:
            continue
        elif isinstance(current, int):
            if abs(current) > MAX_JSON_INTEGER:
                raise ValueError("integers must fit in 64 bits")
        elif isinstance(current, float):
            if not math.isfinite(current):
                raise ValueError("numbers must be finite (no NaN or Infinity)")
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return value


Id = Annotated[str, Field(pattern=ID_REGEX, description="An id: 1-64 letters, digits, '_', '-', '.' or ':'.")]
Text = Annotated[str, Field(pattern=NO_NUL_REGEX)]
JsonValue = Annotated[Any, AfterValidator(check_storable_json)]
Metadata = Annotated[
    dict[str, Any],
    AfterValidator(check_storable_json),
    Field(description="Free-form JSON object kept with the record."),
]
Role = Literal[ROLES]  # type: ignore[valid-type]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    """Query strings are text: numbers are coerced, unknown parameters refused."""

    model_config = ConfigDict(extra="forbid")


# -- requests --------------------------------------------------------------------------------


class ThreadCreate(RequestModel):
    title: Optional[Annotated[Text, Field(max_length=200)]] = None
    metadata: Optional[Metadata] = None


class ThreadUpdate(RequestModel):
    """Only the fields sent change; `"title": null` clears the title."""

    title: Optional[Annotated[Text, Field(max_length=200)]] = None
    metadata: Optional[Metadata] = None


class ThreadListQuery(QueryModel):
    limit: int = Field(20, ge=1, le=100)
    after: Optional[Id] = Field(None, description="The last thread id of the previous page.")
    order: Literal["desc", "asc"] = Field("desc", description="desc: most recently active first.")


class ItemCreate(RequestModel):
    """A message needs a role and non-empty string content (at most MAX_MESSAGE_CHARS)."""

    id: Optional[Id] = Field(None, description="A client-chosen id: re-sending it with the same body is a no-op.")
    type: Annotated[str, Field(pattern=TYPE_REGEX)] = "message"
    role: Optional[Role] = None
    content: Annotated[JsonValue, Field(description="A string for messages; any JSON value for other types.")]
    metadata: Optional[Metadata] = None


class ItemUpdate(RequestModel):
    """Only the fields sent change; the item's seq, type and role stay."""

    content: Optional[JsonValue] = None
    metadata: Optional[Metadata] = None


class ItemListQuery(QueryModel):
    limit: int = Field(50, ge=1, le=100)
    after: Optional[Id] = Field(None, description="The last item id of the previous page.")
    order: Literal["asc", "desc"] = Field("asc", description="asc: oldest (lowest seq) first.")


class AttachmentUpload(BaseModel):
    """multipart/form-data: the file, and optionally the thread it belongs to."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    file: Annotated[FileStorage, WithJsonSchema({"type": "string", "format": "binary"})]
    thread_id: Optional[Id] = None


# -- answers ---------------------------------------------------------------------------------


class Thread(BaseModel):
    id: str
    title: Optional[str]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Item(BaseModel):
    id: str
    thread_id: str
    seq: int = Field(ge=1)
    type: str
    role: Optional[str]
    content: Any
    metadata: dict[str, Any]
    created_at: datetime


class Attachment(BaseModel):
    id: str
    thread_id: Optional[str]
    filename: str
    content_type: str
    size: int = Field(ge=0)
    metadata: dict[str, Any]
    created_at: datetime


class ThreadPage(BaseModel):
    data: list[Thread]
    has_more: bool
    after: Optional[str] = Field(description="Pass as `after` for the next page; null on the last page.")


class ItemPage(BaseModel):
    data: list[Item]
    has_more: bool
    after: Optional[str] = Field(description="Pass as `after` for the next page; null on the last page.")


class ErrorDetail(BaseModel):
    code: str = Field(description="unauthorized, not_found, invalid_request, conflict, payload_too_large, ...")
    message: str
    details: Any = Field(None, description="For invalid requests: the offending `field` and all `errors`.")


class ErrorResponse(BaseModel):
    error: ErrorDetail

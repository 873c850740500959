"""Validation rules, one definition each: the store, the API and the ChatKit adapter all use these.

Patterns and limits are plain constants; the pydantic types below (Id, ItemType, Role, Title,
Text, JsonValue, Metadata, PageLimit, Order) build the API's request models and its OpenAPI
document from them, and the `check_*` functions apply the same rules inside the store, where
they raise InvalidRequest naming the field.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, Field

from .errors import InvalidRequest

MAX_ID_LENGTH = 64
ID_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,%d}$" % (MAX_ID_LENGTH - 1)
ID_PATTERN = re.compile(ID_REGEX)
ID_RULE = f"1-{MAX_ID_LENGTH} letters, digits, '_', '-', '.' or ':'"
TYPE_REGEX = r"^[a-z][a-z0-9_.-]{0,63}$"
TYPE_PATTERN = re.compile(TYPE_REGEX)
NO_NUL_REGEX = r"^[^\x00]*$"
ROLES = ("user", "assistant", "system", "tool")
ORDERS = ("asc", "desc")
MAX_TITLE_CHARS = 200
MAX_FILENAME_CHARS = 255
MAX_CONTENT_TYPE_CHARS = 255
MAX_PAGE = 100
MAX_ATTACHMENTS_PER_MESSAGE = 10
# Images a browser may show and a model may see are PNG, JPEG, GIF and WebP, told by the bytes'
# magic number (never by the declared type); this many first bytes are enough (image_type).
IMAGE_MAGIC_BYTES = 12
MIN_JSON_INTEGER = -(2**63)
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
            if not MIN_JSON_INTEGER <= current <= MAX_JSON_INTEGER:
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


# -- pydantic types (API requests and documentation) ----------------------------------------

Id = Annotated[str, Field(pattern=ID_REGEX, description=f"An id: {ID_RULE}.")]
ItemType = Annotated[str, Field(pattern=TYPE_REGEX, description="A lowercase type name such as 'message'.")]
Role = Literal["user", "assistant", "system", "tool"]
Order = Literal["asc", "desc"]
Text = Annotated[str, Field(pattern=NO_NUL_REGEX)]
Title = Annotated[Text, Field(max_length=MAX_TITLE_CHARS)]
JsonValue = Annotated[Any, AfterValidator(check_storable_json)]
Metadata = Annotated[
    dict[str, Any],
    AfterValidator(check_storable_json),
    Field(description="Free-form JSON object kept with the record."),
]
PageLimit = Annotated[int, Field(ge=1, le=MAX_PAGE)]


# -- checks (the store) ---------------------------------------------------------------------


def check_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidRequest(f"{field} must be {ID_RULE}", {"field": field})
    return value


def check_type(value: Any) -> str:
    if not isinstance(value, str) or not TYPE_PATTERN.match(value):
        raise InvalidRequest("type must be a lowercase name such as 'message'", {"field": "type"})
    return value


def check_role(value: Any) -> Optional[str]:
    if value is not None and value not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", {"field": "role"})
    return value


def check_title(title: Any) -> Optional[str]:
    """A title as stored: stripped, None when empty."""
    if title is None:
        return None
    if not isinstance(title, str) or len(title) > MAX_TITLE_CHARS:
        raise InvalidRequest(
            f"title must be a string of at most {MAX_TITLE_CHARS} characters", {"field": "title"}
        )
    return title.strip() or None


def check_metadata(value: Any, field: str = "metadata") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{field} must be a JSON object", {"field": field})
    return value


def check_limit(limit: Any) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_PAGE}", {"field": "limit"})
    return limit


def check_order(order: Any) -> str:
    if order not in ORDERS:
        raise InvalidRequest("order must be 'asc' or 'desc'", {"field": "order"})
    return order


def check_file_field(value: Any, field: str, limit: int) -> str:
    """A file name or content type: 1 to `limit` characters."""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidRequest(f"{field} must be 1-{limit} characters", {"field": field})
    return value


def image_type(data: bytes) -> Optional[str]:
    """The media type of a PNG, JPEG, GIF or WebP image, from its first bytes; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def attachment_ids(metadata: Any) -> list[str]:
    """The attachments a message names: the ids in its metadata["attachments"] (what the UI's
    composer writes), at most MAX_ATTACHMENTS_PER_MESSAGE; anything malformed is skipped."""
    named = metadata.get("attachments") if isinstance(metadata, dict) else None
    if not isinstance(named, list):
        return []
    return [value for value in named if isinstance(value, str) and ID_PATTERN.match(value)][:MAX_ATTACHMENTS_PER_MESSAGE]

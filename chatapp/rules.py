"""Validation rules, one definition each: the store, the API, the UI and the ChatKit adapter use these.

Patterns and limits are plain constants; the pydantic types below (Id, ItemType, Role, Title,
Text, JsonValue, Metadata, PageLimit, Order) build the API's request models and its OpenAPI
document from them, and the `check_*` functions apply the same rules inside the store, where
they raise InvalidRequest naming the field. Text that no database keeps (NUL, lone surrogates)
and the password rule (OWASP ASVS V2.1) live here too.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from .errors import InvalidRequest, NotFound

MAX_ID_LENGTH = 64
ID_REGEX = rf"^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{MAX_ID_LENGTH - 1}}}$"
ID_PATTERN = re.compile(ID_REGEX)
ID_RULE = f"1-{MAX_ID_LENGTH} letters, digits, '_', '-', '.' or ':'"
TYPE_REGEX = r"^[a-z][a-z0-9_.-]{0,63}$"
TYPE_PATTERN = re.compile(TYPE_REGEX)
NO_NUL_REGEX = r"^[^\x00]*$"
# What PostgreSQL refuses in text (psycopg2 cannot even send it): NUL, and lone surrogates, which
# is also how chatapp's request parsing (chatapp/inputs.py) marks bytes that are not UTF-8.
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_TEXT_RULE = "a NUL character, a lone surrogate or bytes that are not UTF-8"
ROLES = ("user", "assistant", "system", "tool")
ORDERS = ("asc", "desc")
MAX_TITLE_CHARS = 200
MAX_FILENAME_CHARS = 255
MAX_CONTENT_TYPE_CHARS = 255
MAX_PAGE = 100
MAX_SEARCH_CHARS = 200
# An opaque page cursor (search): base64url payload, a dot, a base64url signature.
CURSOR_REGEX = r"^[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{1,64}$"
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
            if UNSTORABLE_TEXT.search(current):
                raise ValueError("strings must not contain lone surrogates")
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
SearchText = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=MAX_SEARCH_CHARS,
        description='Words to find, in web search syntax: "a phrase", OR, -word.',
    ),
]
Cursor = Annotated[str, Field(pattern=CURSOR_REGEX, description="The `after` of the previous page, as given.")]


# -- checks (the store) ---------------------------------------------------------------------


def check_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidRequest(f"{field} must be {ID_RULE}", {"field": field})
    return value


def known_id(value: Any, what: str) -> str:
    """An id to look up: one that cannot exist (a wrong pattern, NUL...) is simply not found,
    before any statement carries it to the database."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise NotFound(f"{what} not found.")
    return value


def check_type(value: Any) -> str:
    if not isinstance(value, str) or not TYPE_PATTERN.match(value):
        raise InvalidRequest("type must be a lowercase name such as 'message'", {"field": "type"})
    return value


def check_role(value: Any) -> str | None:
    if value is not None and value not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", {"field": "role"})
    return value


def check_text(value: str, field: str) -> str:
    """Text a database can store: no NUL, no lone surrogate (the mark of bytes that were not UTF-8)."""
    if UNSTORABLE_TEXT.search(value):
        raise InvalidRequest(f"{field} contains {UNSTORABLE_TEXT_RULE}, which cannot be stored", {"field": field})
    return value


def check_storable(value: Any, field: str) -> Any:
    """check_storable_json for the store: InvalidRequest naming the field."""
    try:
        return check_storable_json(value)
    except ValueError as exc:
        raise InvalidRequest(f"{field}: {exc}", {"field": field}) from None


def check_title(title: Any) -> str | None:
    """A title as stored: stripped, None when empty."""
    if title is None:
        return None
    if not isinstance(title, str) or len(title) > MAX_TITLE_CHARS:
        raise InvalidRequest(
            f"title must be a string of at most {MAX_TITLE_CHARS} characters", {"field": "title"}
        )
    return check_text(title, "title").strip() or None


def check_metadata(value: Any, field: str = "metadata") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{field} must be a JSON object", {"field": field})
    return check_storable(value, field)


def check_limit(limit: Any) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_PAGE}", {"field": "limit"})
    return limit


def check_order(order: Any) -> str:
    if order not in ORDERS:
        raise InvalidRequest("order must be 'asc' or 'desc'", {"field": "order"})
    return order


def check_search_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_SEARCH_CHARS or "\x00" in value:
        raise InvalidRequest(f"q must be 1-{MAX_SEARCH_CHARS} characters of text to search for", {"field": "q"})
    return value


def check_file_field(value: Any, field: str, limit: int) -> str:
    """A file name or content type: 1 to `limit` characters."""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidRequest(f"{field} must be 1-{limit} characters", {"field": field})
    return check_text(value, field)


# -- passwords (OWASP ASVS 4.0.3 V2.1) -----------------------------------------------------

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 128  # V2.1.2: at least 64 allowed, more than 128 refused
PASSWORD_RULE = (
    f"At least {MIN_PASSWORD_CHARS} characters (up to {MAX_PASSWORD_CHARS}); any characters, spaces "
    "and emoji included, with no required mix; not a common password."
)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The ~11,600 entries of at least MIN_PASSWORD_CHARS characters in zxcvbn's list of the 30,000
    most common passwords (lower case), loaded on first use (about 80 ms)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p for p in FREQUENCY_LISTS["passwords"] if len(p) >= MIN_PASSWORD_CHARS)


def password_length(password: str) -> int:
    """The length the rule counts: runs of white space count as one character (V2.1.1)."""
    return len(re.sub(r"\s+", " ", password))


def check_new_password(password: Any, email: str | None = None, field: str = "password") -> str:
    """A password a user may choose (V2.1.1-2.1.9): long enough, not too long, storable as text,
    not a common password nor the account's own email address. No composition rules."""
    if not isinstance(password, str) or password_length(password) < MIN_PASSWORD_CHARS:
        raise InvalidRequest(
            f"The password must have at least {MIN_PASSWORD_CHARS} characters (a run of spaces counts as one).",
            {"field": field},
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidRequest(f"The password is limited to {MAX_PASSWORD_CHARS} characters.", {"field": field})
    check_text(password, field)
    folded = password.strip().lower()
    own = {email.lower(), email.lower().partition("@")[0]} if email else set()
    if folded in common_passwords() or folded in own:
        raise InvalidRequest(
            "This password is too common: it appears on lists of leaked passwords that attackers try "
            "first. Choose another, such as a few unrelated words.",
            {"field": field},
        )
    return password


def image_type(data: bytes) -> str | None:
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

"""Reading legacy values: JSON, timestamps, text and ids, or a BadValue saying what is wrong."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from ..rules import ID_PATTERN, MAX_TITLE_CHARS, check_storable_json


class BadValue(ValueError):
    """A legacy row that cannot be imported as it is; the message says why."""


def text(raw: Any, what: str) -> str | None:
    """A text value; NUL characters and bytes that are not UTF-8 make it bad."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadValue(f"{what} is not valid UTF-8") from None
    if not isinstance(raw, str):
        raw = str(raw)
    try:
        raw.encode("utf-8")  # SQLite text is read with surrogateescape: a lone surrogate is a bad byte
    except UnicodeEncodeError:
        raise BadValue(f"{what} is not valid UTF-8") from None
    if "\x00" in raw:
        raise BadValue(f"{what} contains a NUL byte")
    return raw


def json_value(raw: Any, what: str) -> Any:
    """A JSON value: already decoded (JSONB), or JSON text to parse; checked as storable."""
    if raw is None:
        return None
    if isinstance(raw, (str, bytes)):
        source = text(raw, what)
        try:
            raw = json.loads(source)  # type: ignore[arg-type]
        except ValueError as exc:
            raise BadValue(f"{what} is not valid JSON ({exc})") from None
    try:
        return check_storable_json(raw)
    except ValueError as exc:
        raise BadValue(f"{what}: {exc}") from None


def json_object(raw: Any, what: str) -> dict[str, Any]:
    value = json_value(raw, what)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadValue(f"{what} is not a JSON object")
    return value


def timestamp(raw: Any, what: str) -> datetime | None:
    """An aware UTC time; naive values (TIMESTAMP columns, SQLite text) are taken as UTC."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise BadValue(f"{what} is not a timestamp: {raw!r}") from None
    if not isinstance(raw, datetime):
        raise BadValue(f"{what} is not a timestamp: {raw!r}")
    return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)


def title_from(metadata: dict[str, Any]) -> str | None:
    """A title kept in the metadata, as the title column holds it."""
    title = metadata.get("title")
    if not isinstance(title, str):
        return None
    return title.strip()[:MAX_TITLE_CHARS].strip() or None


def chatapp_id(legacy_id: Any, table: str, prefix: str = "lgc") -> str:
    """The legacy id itself when chatapp can keep it (so references to it stay valid), else an id
    derived from it: the same legacy row always gets the same chatapp id."""
    value = text(legacy_id, "id")
    if value is None or value == "":
        raise BadValue("the id is empty")
    if ID_PATTERN.match(value):
        return value
    return f"{prefix}_" + hashlib.sha256(f"{table}\x00{value}".encode()).hexdigest()[:32]

"""JSON helpers for the API: fast orjson responses, pages and empty answers.

Importable by any module of the API package (and by other fronts that answer JSON):

    from chatapp.api.responses import json_response, page_response, no_content
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response

from ..store import Page

JSON_MIMETYPE = "application/json"


def dumps(obj: Any) -> bytes:
    """JSON bytes by orjson; the standard library takes over for integers beyond 64 bits.

    PostgreSQL's JSONB hands back a number such as 1e300 as a 301-digit integer, which orjson
    refuses; such rows must still serialize.
    """
    try:
        return orjson.dumps(obj)  # records are dataclasses: orjson writes them as they are
    except TypeError:
        return json.dumps(obj, default=_plain, ensure_ascii=False).encode()


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):  # a record or a page
        return value.to_dict()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """`obj` serialized with orjson (datetimes as ISO 8601) as an application/json response."""
    return Response(dumps(obj), status=status, headers=headers, mimetype=JSON_MIMETYPE)


def record_response(record: Any, status: int = 200) -> Response:
    """A store record as JSON: its fields, as the API documents them."""
    return json_response(record, status)


def page_response(page: Page[Any]) -> Response:
    """A keyset page: `{"data": [...], "has_more": bool, "after": cursor or null}`."""
    return json_response(page)


def no_content() -> Response:
    """204 with an empty body (DELETE)."""
    return Response(status=204)

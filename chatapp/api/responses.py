"""JSON helpers for the API: fast orjson responses, pages and empty answers.

Importable by any module of the API package (and by other fronts that answer JSON):

    from chatapp.api.responses import json_response, page_response, no_content
"""

from __future__ import annotations

from typing import Any

from flask import Response

from ..serialization import dumps
from ..store import Page

JSON_MIMETYPE = "application/json"


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

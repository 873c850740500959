"""The API blueprint and its route registry (`api`), plus the served OpenAPI document."""

from __future__ import annotations

from flask import Blueprint

from ..consistency import HEADER as CONSISTENCY_HEADER
from ..positions import LSN_PATTERN
from .responses import json_response
from .spec import ApiRegistry

bp = Blueprint("api", __name__, url_prefix="/api/v1")

api = ApiRegistry(
    bp,
    title="chatapp API",
    version="1.0.0",
    description=(
        "Threads, items and attachments of the caller. Authenticate with "
        "`Authorization: Bearer <token>`; errors are `{\"error\": {\"code\", \"message\", \"details\"?}}`. "
        f"After a write, a server with read replicas answers an `{CONSISTENCY_HEADER}` header: send the latest "
        "one received back with the next requests, and their reads show that write from any server."
    ),
    header_parameters=(
        {
            "name": CONSISTENCY_HEADER,
            "in": "header",
            "required": False,
            "description": (
                f"The last `{CONSISTENCY_HEADER}` value a response carried (the position of your latest write): "
                "the request's reads show that write, whichever server answers. A malformed value is a 400."
            ),
            "schema": {"type": "string", "pattern": LSN_PATTERN.pattern, "examples": ["0/16B3748"]},
        },
    ),
)


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document, generated from the registered routes' models."""
    return json_response(api.openapi())

"""The API blueprint and its route registry (`api`), plus the served OpenAPI document."""

from __future__ import annotations

from flask import Blueprint

from .responses import json_response
from .spec import ApiRegistry

bp = Blueprint("api", __name__, url_prefix="/api/v1")

api = ApiRegistry(
    bp,
    title="chatapp API",
    version="1.0.0",
    description=(
        "Threads, items and attachments of the caller. Authenticate with "
        "`Authorization: Bearer <token>`; errors are `{\"error\": {\"code\", \"message\", \"details\"?}}`."
    ),
)


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document, generated from the registered routes' models."""
    return json_response(api.openapi())

"""The JSON API v1 (filled in by the API issue)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

"""The JSON API v1 at /api/v1: threads, items, branches, attachments, search, export and import,
token-authenticated.

`bp` is the blueprint and `api` its route registry (see spec.py); each module below registers
its routes when imported.
"""

from . import attachments, branches, items, messages, search, threads, transfer  # noqa: E402,F401 - registers the routes
from .registry import api, bp

__all__ = ["api", "bp"]

"""JSON bytes for answers and exports: orjson, with the standard library for what orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(obj: Any) -> bytes:
    """JSON bytes by orjson (records, dataclasses and datetimes as they are); the standard library
    takes over for integers beyond 64 bits.

    PostgreSQL's JSONB hands back a number such as 1e300 as a 301-digit integer, which orjson
    refuses; such rows must still serialize.
    """
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, default=_plain, ensure_ascii=False).encode()


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):  # a record or a page
        return value.to_dict()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")

"""Opaque page cursors that carry their sort key, signed so a tampered or foreign one is refused.

A search page is ordered by computed values (rank, then time and ids), so its cursor carries
those values rather than an id to look up. The cursor is `<payload>.<signature>`, both
base64url: the payload is the JSON list of values, the signature an HMAC-SHA256 over the payload
and a scope (the acting user and the query), so a cursor works only for the search that made it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
from typing import Any

from ..errors import InvalidRequest

SIGNATURE_BYTES = 16
# Used when the store is built without the app's SECRET_KEY (scripts, tests): cursors then only
# work within this process.
_PROCESS_SECRET = secrets.token_bytes(32)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=16)
def _derived_key(secret: str | bytes | None) -> bytes:
    """The signing key for a secret (derived once: a store is built for every request)."""
    raw = secret.encode() if isinstance(secret, str) else (secret or _PROCESS_SECRET)
    return hashlib.sha256(b"chatapp page cursor\x00" + raw).digest()


class CursorSigner:
    """Encodes and checks cursors with a key derived from the app's secret."""

    def __init__(self, secret: str | bytes | None = None):
        self._key = _derived_key(secret)

    def _sign(self, scope: str, payload: str) -> str:
        message = scope.encode() + b"\x00" + payload.encode()
        return _b64encode(hmac.new(self._key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES])

    def encode(self, scope: str, values: list[Any]) -> str:
        payload = _b64encode(json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode())
        return f"{payload}.{self._sign(scope, payload)}"

    def decode(self, scope: str, cursor: str, size: int) -> list[Any]:
        """The values of a cursor this signer made for `scope`; InvalidRequest for anything else."""
        unknown = InvalidRequest(
            "Unknown cursor: `after` must be the `after` of the previous page of this same search.",
            {"field": "after"},
        )
        payload, _, signature = cursor.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(scope, payload)):
            raise unknown
        try:
            values = json.loads(_b64decode(payload))
        except (binascii.Error, ValueError):
            raise unknown from None
        if not isinstance(values, list) or len(values) != size:
            raise unknown
        return values

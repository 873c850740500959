"""Bearer-token authentication for the JSON API, with a short-lived in-process token cache.

Only `Authorization: Bearer <token>` authenticates the API; cookie sessions never do, so the API
needs no CSRF protection. A token -> user lookup is cached per process for
`API_TOKEN_CACHE_SECONDS` (default 10, 0 turns it off): a revoked token keeps working for at most
that long on a process that saw it recently. Only live tokens are cached, keyed by the token's
SHA-256, never by its plain text.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from flask import current_app, g, request

from ..errors import Unauthorized
from ..services import account_store
from ..store.accounts import hash_token

MAX_TOKEN_CHARS = 200
CACHE_KEY = "chatapp.api_token_cache"


class TokenCache:
    """token hash -> (user id, expiry); bounded, thread-safe, and cleared wholesale when full."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Optional[str]:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        user_id, expires_at = entry
        if self.clock() >= expires_at:
            with self._lock:
                self._entries.pop(token_hash, None)
            return None
        return user_id

    def put(self, token_hash: str, user_id: str) -> None:
        if self.ttl_seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # rare; simpler and cheaper than LRU bookkeeping
            self._entries[token_hash] = (user_id, self.clock() + self.ttl_seconds)


def token_cache() -> TokenCache:
    cache = current_app.extensions.get(CACHE_KEY)
    if cache is None:
        cache = TokenCache(float(current_app.config.get("API_TOKEN_CACHE_SECONDS", 10)))
        current_app.extensions[CACHE_KEY] = cache
    return cache


def bearer_token() -> str:
    """The token of the Authorization header, or Unauthorized when it is missing or malformed."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:
        raise Unauthorized("Send an API token: `Authorization: Bearer <token>`.")
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise Unauthorized("Malformed Authorization header; expected `Bearer <token>`.")
    return token


def authenticate() -> str:
    """The id of the user whose live token the request carries; Unauthorized otherwise."""
    token = bearer_token()
    token_hash = hash_token(token)
    cache = token_cache()
    user_id = cache.get(token_hash)
    if user_id is None:
        user_id = account_store().user_for_token(token)
        if user_id is None:
            raise Unauthorized("The API token is unknown or revoked.")
        cache.put(token_hash, user_id)
    g.api_user_id = user_id  # chatapp.consistency names this user's last write position
    return user_id

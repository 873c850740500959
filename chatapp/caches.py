"""Per-process caches of credential -> user id lookups: the API's tokens and the browser's sessions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import current_app

TOKEN_CACHE_KEY = "chatapp.api_token_cache"
SESSION_CACHE_KEY = "chatapp.session_cache"


class ExpiringCache:
    """key -> (user id, expiry); bounded, thread-safe, and cleared wholesale when full.

    Only live credentials are cached, keyed by their hash. A credential revoked through this
    process is forgotten at once (`forget`, `forget_user`); other processes stop trusting it
    within `ttl_seconds`. A ttl of 0 turns the cache off.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        user_id, expires_at = entry
        if self.clock() >= expires_at:
            with self._lock:
                self._entries.pop(key, None)
            return None
        return user_id

    def put(self, key: str, user_id: str) -> None:
        if self.ttl_seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # rare; simpler and cheaper than LRU bookkeeping
            self._entries[key] = (user_id, self.clock() + self.ttl_seconds)

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def forget_user(self, user_id: str) -> None:
        with self._lock:
            for key in [key for key, (owner, _) in self._entries.items() if owner == user_id]:
                del self._entries[key]


def _app_cache(key: str, setting: str, default: float) -> ExpiringCache:
    cache = current_app.extensions.get(key)
    if cache is None:
        cache = current_app.extensions[key] = ExpiringCache(float(current_app.config.get(setting, default)))
    return cache


def token_cache() -> ExpiringCache:
    """The app's API token cache (API_TOKEN_CACHE_SECONDS)."""
    return _app_cache(TOKEN_CACHE_KEY, "API_TOKEN_CACHE_SECONDS", 10)


def session_cache() -> ExpiringCache:
    """The app's browser session cache (SESSION_CACHE_SECONDS)."""
    return _app_cache(SESSION_CACHE_KEY, "SESSION_CACHE_SECONDS", 2)

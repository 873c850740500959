"""Bearer-token authentication for the JSON API, with a short-lived in-process token cache.

Only `Authorization: Bearer <token>` authenticates the API; cookie sessions never do, so the API
needs no CSRF protection. A token -> user lookup is cached per process for
`API_TOKEN_CACHE_SECONDS` (default 10, 0 turns it off): a revoked token keeps working for at most
that long on a process that saw it recently. Only live tokens are cached, keyed by the token's
SHA-256, never by its plain text. A cache miss also records when the token was last used (at most
once a minute, in the lookup's own statement), so the steady state stays one round trip.
"""

from __future__ import annotations

from flask import g, request

from ..caches import ExpiringCache, token_cache
from ..errors import Unauthorized
from ..services import account_store
from ..store.accounts import hash_token

MAX_TOKEN_CHARS = 200
# The API's token cache (chatapp.caches.token_cache); TokenCache is its historical name.
TokenCache = ExpiringCache


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

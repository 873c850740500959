"""Domain errors, and the one place that maps them (and HTTP errors) to JSON or HTML answers."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Request, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("chatapp")


class ChatError(Exception):
    """Base of every error chatapp reports to a user; `code` and `status` pick the answer."""

    code = "error"
    status = 500

    def __init__(self, message: str, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(ChatError):
    code, status = "invalid_request", 400


class UnstorableText(InvalidRequest):
    """Request text no database keeps (NUL, lone surrogates, bytes that are not UTF-8)."""


class Unauthorized(ChatError):
    code, status = "unauthorized", 401


class Forbidden(ChatError):
    code, status = "forbidden", 403


class NotFound(ChatError):
    code, status = "not_found", 404


class Conflict(ChatError):
    code, status = "conflict", 409


class PayloadTooLarge(ChatError):
    code, status = "payload_too_large", 413


class UnsupportedMediaType(ChatError):
    code, status = "unsupported_media_type", 415


class RateLimited(ChatError):
    code, status = "rate_limited", 429


class UpstreamError(ChatError):
    """The assistant backend failed (refused, 4xx/5xx, malformed)."""

    code, status = "upstream_error", 502


class UpstreamTimeout(ChatError):
    code, status = "upstream_timeout", 504


class DatabaseUnavailable(ChatError):
    code, status = "database_unavailable", 503


class SchemaMissing(ChatError):
    code, status = "schema_missing", 503

    def __init__(self, message: str = "The database has no chatapp tables yet: run `flask db upgrade`.", details: Any = None):
        super().__init__(message, details)


# Statuses Werkzeug raises itself, named like ours.
HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}


def wants_json(req: Request) -> bool:
    """API paths answer JSON; pages answer HTML unless the client asks for JSON."""
    if req.path.startswith("/api/") or req.path in ("/healthz", "/readyz"):
        return True
    best = req.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not req.accept_mimetypes.accept_html


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def error_response(status: int, code: str, message: str, details: Any = None):
    headers = {"Retry-After": "5"} if status == 503 else {}
    if status == 401 and request.path.startswith("/api/"):
        headers["WWW-Authenticate"] = 'Bearer realm="chatapp"'  # RFC 6750: how to authenticate
    if wants_json(request):
        return error_body(code, message, details), status, headers
    return (
        render_template("error.html", status=status, code=code, message=message),
        status,
        headers,
    )


def register_error_handlers(app: Flask) -> None:
    """Map ChatError subclasses and HTTP errors to one JSON shape or a friendly page."""

    @app.errorhandler(ChatError)
    def _chat_error(error: ChatError):
        if error.status >= 500:
            cause = error.__cause__ or error.__context__
            reason = str(getattr(cause, "orig", None) or cause or "").strip().splitlines()
            log.warning("%s: %s%s", error.code, error.message, f" ({reason[0]})" if reason else "")
        _rollback()
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        code = HTTP_CODES.get(status, "error")
        body, status, headers = error_response(status, code, error.description or error.name)
        if getattr(error, "valid_methods", None):  # a 405 names the allowed methods
            headers["Allow"] = ", ".join(error.valid_methods)
        return body, status, headers

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        from .store.transactions import translate_db_error  # local: it imports this module

        translated = translate_db_error(error)
        if translated is not None:
            return _chat_error(translated)
        log.exception("unhandled error")
        _rollback()
        return error_response(500, "internal_error", "Something went wrong on our side.")


def _rollback() -> None:
    from .extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection may be gone; the session is discarded at teardown anyway
        log.debug("rollback after error failed", exc_info=True)

"""Browser hardening: security headers on every response (the Secure cookie flag is chatapp.proxy's),
HSTS on https requests, and no caching of the UI's pages."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

# Scripts and styles are static files only: no inline script, no eval, no framing.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def add_security_headers(response: Response) -> Response:
    """nosniff everywhere; HSTS on https (direct, or as a trusted proxy says); the CSP (with
    frame-ancestors 'none') on every HTML page; no-store on every page of the UI, which shows
    chats, tokens and forms that no shared cache or back button should keep."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    hsts_seconds = int(current_app.config.get("HSTS_SECONDS") or 0)
    if hsts_seconds and request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts_seconds}")
    if request.blueprint == "ui":
        response.headers.setdefault("Cache-Control", "no-store")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def configure_browser_security(app: Flask) -> None:
    """Add the security headers to every response of `app`."""
    app.after_request(add_security_headers)

"""Browser hardening: security headers on every response (the Secure cookie flag is chatapp.proxy's)."""

from __future__ import annotations

from flask import Flask, Response

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
    """nosniff everywhere; the CSP (with frame-ancestors 'none') on every HTML page."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def configure_browser_security(app: Flask) -> None:
    """Add the security headers to every response of `app`."""
    app.after_request(add_security_headers)

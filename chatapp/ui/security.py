"""Browser hardening: session cookies that follow the request's scheme, and security headers."""

from __future__ import annotations

from flask import Flask, Response, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

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


class SchemeAwareSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions whose cookie is Secure whenever the request came over HTTPS.

    `request.is_secure` is true for direct TLS and, through ProxyFix (chatapp.proxy), for a
    trusted proxy's X-Forwarded-Proto: https. SESSION_COOKIE_SECURE=True forces it always.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        forced = bool(app.config["SESSION_COOKIE_SECURE"])
        return forced or (has_request_context() and request.is_secure)


def add_security_headers(response: Response) -> Response:
    """nosniff everywhere; the CSP (with frame-ancestors 'none') on every HTML page."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def configure_browser_security(app: Flask) -> None:
    """Install the session interface and the header hook on `app`."""
    app.session_interface = SchemeAwareSessionInterface()
    app.after_request(add_security_headers)

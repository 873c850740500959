"""Reverse-proxy awareness: ProxyFix with the configured hop counts, and a session cookie that is
Secure whenever the request arrived over https (directly or as told by a trusted proxy)."""

from __future__ import annotations

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix


class ProxyAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with Secure set on https requests too.

    SESSION_COOKIE_SECURE=True still forces it; otherwise the flag follows the request's scheme,
    which ProxyFix has taken from X-Forwarded-Proto when a proxy is trusted.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        if super().get_cookie_secure(app):
            return True
        return has_request_context() and request.is_secure


def configure_proxy(app: Flask) -> None:
    """Trust X-Forwarded-* only as far as PROXY_FIX_X_* hop counts say (all zero: not at all)."""
    hops = app.config.get("PROXY_FIX") or {}
    if any(hops.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)  # type: ignore[method-assign]
    if hops.get("x_proto") or hops.get("x_host"):
        # The public scheme and host are known: redirects name them outright (https://host/...).
        # Without a trusted proxy they stay relative, which a TLS-terminating proxy cannot break.
        app.response_class = type(
            "AbsoluteLocationResponse", (app.response_class,), {"autocorrect_location_header": True}
        )
    app.session_interface = ProxyAwareSessionInterface()

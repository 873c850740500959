"""One log line per request, tagged with a request id that every log record of the request carries.

The id comes from the client's (or proxy's) X-Request-ID when it is a sane token, otherwise it is
generated; it is echoed back in the response's X-Request-ID header.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# Accept proxies' ids (UUIDs, nginx's $request_id, "abc-123.4") but nothing that could forge log lines.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}$")

request_log = logging.getLogger("chatapp.request")


def current_request_id() -> str:
    """The id of the request being served, or "-" outside a request."""
    if has_request_context():
        return g.get("request_id", "-")
    return "-"


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record, so handlers can format it (`%(request_id)s`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class WerkzeugRequestLineFilter(logging.Filter):
    """Drops the development server's per-request line ("GET / HTTP/1.1" 200 -), which repeats
    chatapp's own; its other messages (the address it listens on, errors) pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        # werkzeug.serving.WSGIRequestHandler.log_request logs '<address> - - [<time>] "%s" %s %s'.
        return not (record.levelno == logging.INFO and str(record.msg).endswith('"%s" %s %s'))


def _start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if VALID_REQUEST_ID.match(incoming) else secrets.token_hex(16)
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = current_request_id()
    started = g.get("request_started")
    duration_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    request_log.info(
        "%s %s %s %.1fms remote=%s",
        request.method,
        request.path,
        response.status_code,
        duration_ms,
        request.remote_addr or "-",
    )
    return response


def configure_request_log(app: Flask) -> None:
    """Register the request-id hooks first, so every other hook and handler can log with the id."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)

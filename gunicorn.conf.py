"""gunicorn settings for chatapp (`gunicorn wsgi:app -c gunicorn.conf.py`), all from the environment.

Command-line flags still win over this file. See docs/DEPLOY.md for sizing against Neon's limits.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    return default if not raw else raw in ("1", "true", "yes", "on")


_cores = os.cpu_count() or 1

bind = os.environ.get("GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}")
# Threads serve requests that mostly wait on the database; one worker per core (at least two, so
# one busy or restarting worker never leaves the instance unserved).
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", max(2, _cores))
threads = _int("GUNICORN_THREADS", 4)
preload_app = _bool("GUNICORN_PRELOAD", False)

# A request waiting on the database gives up after DB_CONNECT_TIMEOUT / DB_POOL_TIMEOUT (503),
# well before a worker is declared stuck.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Longer than nginx's upstream keepalive reuse, so the proxy never reuses a closed socket.
keepalive = _int("GUNICORN_KEEPALIVE", 75)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 0)

# Which peers may set X-Forwarded-Proto etc. for gunicorn itself (chatapp uses PROXY_FIX_X_*).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# chatapp logs one line per request itself (method, path, status, time, client, request id), so
# gunicorn's access log is off unless asked for: a second formatted line per request is waste.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "").strip() or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# gunicorn >= 25 opens a control socket at one fixed path per user: several instances on one
# host would fight over it. Off unless a path is given.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True


def post_fork(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    """With --preload the app (and its engine) was built in the master: drop the pooled
    connections the worker inherited, without closing them under the master's feet."""
    flask_app = getattr(server.app, "callable", None)
    if flask_app is None:
        return  # not preloaded: each worker builds its own app and engine
    from chatapp.extensions import db

    with flask_app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
    server.log.info("worker %s: dropped the database connections inherited from the master", worker.pid)

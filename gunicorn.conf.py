"""gunicorn settings for chatapp (`gunicorn wsgi:app -c gunicorn.conf.py`), all from the environment and .env.

The variables are defined in chatapp.settings (GunicornSettings); command-line flags still win
over this file. .env is loaded here, in the master, so GUNICORN_BIND and the rest apply, and
chatapp's own settings are checked here too, once, before any worker forks. See docs/DEPLOY.md
for sizing against Neon's limits.
"""

from __future__ import annotations

import sys
from pathlib import Path

# gunicorn reads this file before it puts the working directory on sys.path: find the chatapp
# beside it (a checkout), or the installed one.
_checkout = str(Path(__file__).resolve().parent)
if _checkout not in sys.path:
    sys.path.insert(0, _checkout)

from chatapp.config import load_settings  # noqa: E402 - after the sys.path entry
from chatapp.extensions import db  # noqa: E402
from chatapp.paths import instance_path  # noqa: E402
from chatapp.settings import GunicornSettings, load_env_file  # noqa: E402
from chatapp.startup import exit_on_startup_error  # noqa: E402

with exit_on_startup_error():
    load_env_file()  # the environment wins over .env
    _settings = GunicornSettings.from_env()

bind = _settings.address
# Threads serve requests that mostly wait on the database.
worker_class = "gthread"
workers = _settings.workers
threads = _settings.threads
preload_app = _settings.preload

# A request waiting on the database gives up after DB_CONNECT_TIMEOUT / DB_POOL_TIMEOUT (503),
# well before a worker is declared stuck.
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
# Longer than nginx's upstream keepalive reuse, so the proxy never reuses a closed socket.
keepalive = _settings.keepalive
max_requests = _settings.max_requests
max_requests_jitter = _settings.max_requests_jitter

# Which peers may set X-Forwarded-Proto etc. for gunicorn itself (chatapp uses PROXY_FIX_X_*).
forwarded_allow_ips = _settings.forwarded_allow_ips

# chatapp logs one line per request itself (method, path, status, time, client, request id), so
# gunicorn's access log is off unless asked for: a second formatted line per request is waste.
accesslog = _settings.access_log
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
errorlog = "-"
loglevel = _settings.log_level.lower()

# gunicorn >= 25 opens a control socket at one fixed path per user: several instances on one
# host would fight over it. Off unless a path is given.
if _settings.control_socket:
    control_socket = _settings.control_socket
else:
    control_socket_disable = True


def on_starting(server):  # noqa: ANN001 - gunicorn's hook signature
    """Refuse to start, in one line, on a setting chatapp would refuse: once, in the master,
    instead of a traceback in every worker and "Worker failed to boot"."""
    with exit_on_startup_error():
        load_settings(str(instance_path()))


def post_fork(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    """With --preload the app (and its engine) was built in the master: drop the pooled
    connections the worker inherited, without closing them under the master's feet."""
    flask_app = getattr(server.app, "callable", None)
    if flask_app is None:
        return  # not preloaded: each worker builds its own app and engine
    with flask_app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
    server.log.info("worker %s: dropped the database connections inherited from the master", worker.pid)

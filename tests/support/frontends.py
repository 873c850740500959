"""Real nginx and PgBouncer for tests: private configs in a temp dir, free localhost ports, stopped
when the `with` block ends. Both are Debian packages (.ci/run installs them)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from .databases import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _require(binary: str, package: str) -> None:
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{package} is not installed (apt-get install {package})")


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        try:
            with closing(socket.create_connection(("127.0.0.1", port), timeout=1)):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s:\n{_tail(log)}")


def _tail(path: Path) -> str:
    try:
        return path.read_text()[-3000:]
    except OSError:
        return ""


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size 12m;

    # Keep the client's X-Request-ID, or make one, and pass it on.
    map $http_x_request_id $chatapp_request_id {{
        default $http_x_request_id;
        "" $request_id;
    }}
    upstream chatapp {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name {server_name};
        location / {{
            proxy_pass http://chatapp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # TLS ends here in production; the tests speak plain HTTP to nginx.
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Request-ID $chatapp_request_id;
            proxy_buffering off;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@contextmanager
def nginx(upstreams: Sequence[str], server_name: str = "chat.example.test") -> Iterator[str]:
    """nginx on a free port proxying to `upstreams` ("127.0.0.1:8001", ...); yields its base URL."""
    _require(NGINX, "nginx")
    directory = Path(tempfile.mkdtemp(prefix="chatapp-nginx-"))
    port = free_port()
    servers = "\n".join(f"        server {upstream};" for upstream in upstreams)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, servers=servers, port=port, server_name=server_name))
    log = directory / "error.log"
    process = subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(conf), "-e", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process, log, "nginx")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process, signal.SIGQUIT)
        shutil.rmtree(directory, ignore_errors=True)


PGBOUNCER_INI = """\
[databases]
* = host={host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
admin_users = {user}
pool_mode = transaction
max_client_conn = 500
default_pool_size = 40
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid
{run_as}
"""


@contextmanager
def pgbouncer(server_host: str, server_port: int, user: str = "postgres") -> Iterator[int]:
    """PgBouncer in pool_mode=transaction in front of a PostgreSQL server; yields its port.

    Every database of the server is reachable through it, as `user` (trust auth).
    """
    _require(PGBOUNCER, "pgbouncer")
    directory = Path(tempfile.mkdtemp(prefix="chatapp-pgbouncer-"))
    port = free_port()
    run_as = ""
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: it switches to `user`
        run_as = "user = postgres"
        entry = pwd.getpwnam("postgres")
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    (directory / "userlist.txt").write_text(f'"{user}" ""\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text(
        PGBOUNCER_INI.format(host=server_host, server_port=server_port, port=port, dir=directory, user=user, run_as=run_as)
    )
    for path in directory.iterdir():
        os.chmod(path, 0o644)
    log = directory / "pgbouncer.log"
    process = subprocess.Popen([PGBOUNCER, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, log, "pgbouncer")
        yield port
    finally:
        _stop(process, signal.SIGINT)
        shutil.rmtree(directory, ignore_errors=True)

"""Log-in throttling across processes: two gunicorn instances share their counts through Redis."""

from __future__ import annotations

import http.cookiejar
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from support.databases import free_port
from support.servers import gunicorn_server, migrate

PASSWORD = "correct horse battery"


@contextmanager
def redis_server(tmp_path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


class Visitor:
    """A browser-like HTTP client: keeps cookies and reads the CSRF token from forms."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.read().decode()

    def post_form(self, path: str, fields: dict[str, str]) -> int:
        token = re.search(r'name="csrf_token" value="([^"]+)"', self.get(path)).group(1)
        data = urllib.parse.urlencode({**fields, "csrf_token": token}).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003 - urllib's signature
        return None


def test_failed_logins_are_counted_across_instances_through_redis(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    migrate(url, str(tmp_path))
    with redis_server(tmp_path) as storage:
        env = {"RATELIMIT_STORAGE_URI": storage, "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "3 per minute", "WEB_CONCURRENCY": "1"}
        with gunicorn_server(url, str(tmp_path), env=env) as first, gunicorn_server(url, str(tmp_path), env=env) as second:
            email = "throttled@example.com"
            assert Visitor(first).post_form("/register", {"email": email, "password": PASSWORD}) == 303
            for _ in range(3):
                assert Visitor(first).post_form("/login", {"email": email, "password": "wrong password"}) == 401
            # The other instance has seen no failure itself, yet refuses this address: the counts are shared.
            assert Visitor(second).post_form("/login", {"email": email, "password": PASSWORD}) == 429
            other = "fine@example.com"
            assert Visitor(second).post_form("/register", {"email": other, "password": PASSWORD}) == 303
            assert Visitor(second).post_form("/login", {"email": other, "password": PASSWORD}) == 303

"""Behind a reverse proxy: ProxyFix hop counts, https redirects and Secure cookies, request ids;
then real nginx in front of two gunicorn instances sharing one PostgreSQL database."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatapp import create_app
from chatapp.config import ConfigError, load_settings
from chatapp.extensions import db
from chatapp.store.accounts import TOKEN_PREFIX, AccountStore
from support.api_client import make_token
from support.databases import TEST_SECRET_KEY, create_pg_database, drop_pg_database, make_app
from support.frontends import nginx
from support.httpclient import Api, Reply, call
from support.servers import gunicorn_server, migrate

PUBLIC_HOST = "chat.example.test"
TRUST_ONE_PROXY = {"PROXY_FIX_X_FOR": "1", "PROXY_FIX_X_PROTO": "1", "PROXY_FIX_X_HOST": "1"}
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": PUBLIC_HOST, "X-Forwarded-For": "198.51.100.4"}
PASSWORD = "correct horse battery"


def local_app(tmp_path: Path, **config):
    """An app on a throwaway SQLite file: these checks never reach the database."""
    return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'proxy.db'}", "instance_path": str(tmp_path), "SECRET_KEY": TEST_SECRET_KEY, **config})


def session_cookie(set_cookies: list[str]) -> str:
    found = [header for header in set_cookies if header.startswith("session=")]
    assert found, set_cookies
    return found[-1]


# -- ProxyFix configuration, in-process ---------------------------------------------------------


def test_proxy_hops_come_from_the_environment(tmp_path):
    key = {"SECRET_KEY": TEST_SECRET_KEY}
    settings = load_settings(str(tmp_path), {**key, "PROXY_FIX_X_FOR": "2", "PROXY_FIX_X_PROTO": "1"})
    assert settings.values["PROXY_FIX"] == {"x_for": 2, "x_proto": 1, "x_host": 0, "x_port": 0, "x_prefix": 0}
    assert not any(load_settings(str(tmp_path), key).values["PROXY_FIX"].values())
    with pytest.raises(ConfigError):
        load_settings(str(tmp_path), {**key, "PROXY_FIX_X_FOR": "-1"})


def test_without_configured_proxies_forwarded_headers_are_ignored(tmp_path):
    app = local_app(tmp_path)
    client = app.test_client()

    redirect = client.get("/threads", headers={**FORWARDED, "Accept": "text/html"})
    login = client.get("/login", headers=FORWARDED)

    assert redirect.status_code == 302
    assert redirect.headers["Location"].startswith("/login")  # relative: no scheme to get wrong
    assert "Secure" not in session_cookie(login.headers.getlist("Set-Cookie"))
    echo = client.get("/healthz", headers={**FORWARDED, "X-Request-ID": "direct-1"})
    assert echo.headers["X-Request-ID"] == "direct-1"


def test_with_one_trusted_proxy_urls_redirects_and_cookies_follow_it(tmp_path):
    app = local_app(tmp_path, **TRUST_ONE_PROXY)
    client = app.test_client()

    redirect = client.get("/threads", headers={**FORWARDED, "Accept": "text/html"})
    login = client.get("/login", headers=FORWARDED)
    plain = app.test_client().get("/login")

    assert redirect.headers["Location"] == f"https://{PUBLIC_HOST}/login?next=/threads"
    assert "; Secure" in session_cookie(login.headers.getlist("Set-Cookie"))
    assert "Secure" not in session_cookie(plain.headers.getlist("Set-Cookie"))


def test_request_id_is_echoed_or_generated_and_tags_the_log_line(tmp_path, caplog):
    app = local_app(tmp_path)
    client = app.test_client()
    caplog.set_level(logging.INFO, logger="chatapp")

    echoed = client.get("/healthz", headers={"X-Request-ID": "edge-1234.abc"})
    generated = client.get("/healthz")
    forged = client.get("/healthz", headers={"X-Request-ID": "x FAKE=LINE <script>"})

    assert echoed.headers["X-Request-ID"] == "edge-1234.abc"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-ID"])
    lines = [r for r in caplog.records if r.name == "chatapp.request"]
    assert [r.request_id for r in lines] == [
        "edge-1234.abc", generated.headers["X-Request-ID"], forged.headers["X-Request-ID"]
    ]
    assert re.fullmatch(r"GET /healthz 200 \d+\.\dms remote=127\.0\.0\.1", lines[0].getMessage())


def test_errors_are_logged_with_the_request_id(tmp_path, caplog):
    # Nothing listens on port 1: the read fails and answers 503, logged under the request's id.
    app = create_app({
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "instance_path": str(tmp_path),
        "SECRET_KEY": TEST_SECRET_KEY, "DB_CONNECT_TIMEOUT": "1",
    })
    caplog.set_level(logging.INFO, logger="chatapp")

    reply = app.test_client().get("/api/v1/threads", headers={"Authorization": f"Bearer {TOKEN_PREFIX}{'x' * 40}", "X-Request-ID": "req-err-1"})

    assert reply.status_code == 503
    assert reply.headers["Retry-After"]
    assert reply.headers["X-Request-ID"] == "req-err-1"
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors and all(r.request_id == "req-err-1" for r in errors)
    assert "database_unavailable" in errors[-1].getMessage()


# -- nginx in front of two gunicorn instances on one PostgreSQL database ------------------------


@dataclass
class Site:
    base: str  # nginx
    instances: dict[str, Path]  # "127.0.0.1:port" -> that gunicorn's log
    api: Api
    email: str


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    url = create_pg_database("chatapp_proxy")
    instance = tmp_path_factory.mktemp("proxy")
    try:
        migrate(url, str(instance))
        app = make_app(url, str(instance))
        email = f"proxy-{secrets.token_hex(4)}@example.com"
        with app.app_context():
            user_id = AccountStore(db.session).create_user(email, PASSWORD).id
            db.session.remove()
        token = make_token(app, user_id)
        with app.app_context():
            db.engine.dispose()
        env = {**TRUST_ONE_PROXY, "WEB_CONCURRENCY": "1"}
        with gunicorn_server(url, str(instance), env=env) as first, gunicorn_server(url, str(instance), env=env) as second:
            upstreams = [base.removeprefix("http://") for base in (first, second)]
            logs = {upstream: instance / f"gunicorn-{upstream.rsplit(':', 1)[1]}.log" for upstream in upstreams}
            with nginx(upstreams, server_name=PUBLIC_HOST) as base:
                yield Site(base, logs, Api(base, token), email)
    finally:
        drop_pg_database(url)


def through_nginx(site: Site, method: str, path: str, **kwargs) -> Reply:
    headers = {"Host": PUBLIC_HOST, **kwargs.pop("headers", {})}
    return call(method, site.base + path, headers=headers, **kwargs)


def test_behind_nginx_redirects_are_https_and_the_session_cookie_is_secure(site):
    redirect = through_nginx(site, "GET", "/threads", headers={"Accept": "text/html"})
    form = through_nginx(site, "GET", "/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    cookie = session_cookie(form.headers.get_all("Set-Cookie")).split(";")[0]

    login = through_nginx(
        site,
        "POST",
        "/login",
        form={"email": site.email, "password": PASSWORD, "csrf_token": csrf},
        headers={"Cookie": cookie, "Referer": f"https://{PUBLIC_HOST}/login"},
    )

    assert redirect.status == 302
    assert redirect.headers["Location"] == f"https://{PUBLIC_HOST}/login?next=/threads"
    assert login.status == 303, login.text[:500]
    assert login.headers["Location"].startswith(f"https://{PUBLIC_HOST}/")
    logged_in = session_cookie(login.headers.get_all("Set-Cookie"))
    assert "; Secure" in logged_in and "; HttpOnly" in logged_in


def test_a_spoofed_forwarded_for_is_not_trusted_beyond_the_configured_hop(site):
    request_id = f"spoof-{secrets.token_hex(6)}"

    reply = through_nginx(site, "GET", "/healthz", headers={"X-Forwarded-For": "203.0.113.66", "X-Request-ID": request_id})

    assert reply.status == 200
    assert reply.headers["X-Request-ID"] == request_id  # nginx passed the client's id through
    log = site.instances[reply.headers["X-Upstream"]].read_text()
    line = next(line for line in log.splitlines() if f"[{request_id}] GET /healthz" in line)
    assert line.endswith("remote=127.0.0.1")  # nginx's own peer address, not the client's claim
    assert "203.0.113.66" not in line


def test_a_message_written_through_one_instance_is_read_through_the_other(site):
    thread = site.api.call("POST", "/threads", {"title": "two instances"}, headers={"Host": PUBLIC_HOST})
    assert thread.status == 201
    thread_id = thread.json()["id"]

    written = site.api.call("POST", f"/threads/{thread_id}/items", {"role": "user", "content": "written once"})
    assert written.status == 201
    writer = written.headers["X-Upstream"]
    item_id = written.json()["id"]

    reads = [site.api.call("GET", f"/threads/{thread_id}/items/{item_id}") for _ in range(4)]
    other = [reply for reply in reads if reply.headers["X-Upstream"] != writer]

    assert set(site.instances) == {writer} | {reply.headers["X-Upstream"] for reply in reads}
    assert other, "nginx never routed a read to the other instance"
    assert all(reply.status == 200 and reply.json()["content"] == "written once" for reply in other)

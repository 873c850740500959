"""Read replicas served for real: nginx in front of two gunicorn instances, a private primary and
its streaming replica whose replay is delayed 200 ms. Every write is read back through the other
instance, reads without a write land on the replica, and a replica stopped under load costs no
client an error nor an acknowledged write."""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chatapp.consistency import HEADER
from chatapp.extensions import db
from chatapp.store.accounts import AccountStore
from support.api_client import make_token
from support.databases import make_app
from support.frontends import nginx
from support.httpclient import Reply, call
from support.pgcluster import PrivateCluster
from support.servers import gunicorn_server, migrate

APP_ROLE = "chatapp_app"
DATABASE = "chatapp"
PASSWORD = "correct horse battery"
HOST = "chat.example.test"
ROUNDS = 1000
ENV = {
    "PROXY_FIX_X_FOR": "1", "PROXY_FIX_X_PROTO": "1", "PROXY_FIX_X_HOST": "1", "WEB_CONCURRENCY": "2",
    # The replica is 200 ms behind: waiting the default 50 ms would only delay each read after a write.
    "DB_REPLICA_WAIT_MS": "10", "DB_REPLICA_MAX_LAG_SECONDS": "3",
}


@dataclass
class Site:
    base: str
    primary: PrivateCluster
    replica: PrivateCluster
    logs: dict[str, Path]  # "127.0.0.1:port" (nginx's X-Upstream) -> that gunicorn's log
    app: object  # an in-process app on the primary, to make users and tokens


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    primary = PrivateCluster()
    replica = None
    instance = tmp_path_factory.mktemp("replicas-served")
    try:
        primary.init()
        url = primary.create_app_database(APP_ROLE, DATABASE)
        migrate(url, str(instance))
        replica = primary.standby(recovery_min_apply_delay="200ms")
        replica_url = replica.url(DATABASE, APP_ROLE)
        app = make_app(url, str(instance))
        env = {**ENV, "DATABASE_REPLICA_URLS": replica_url}
        with gunicorn_server(url, str(instance), env=env) as first, gunicorn_server(url, str(instance), env=env) as second:
            upstreams = [base.removeprefix("http://") for base in (first, second)]
            logs = {upstream: instance / f"gunicorn-{upstream.rsplit(':', 1)[1]}.log" for upstream in upstreams}
            with nginx(upstreams, server_name=HOST) as base:
                yield Site(base, primary, replica, logs, app)
        with app.app_context():
            db.engine.dispose()
    finally:
        if replica is not None:
            replica.destroy()
        primary.destroy()


def new_user(site: Site) -> tuple[str, str, str]:
    """A user with a password and an API token: (email, user id, token)."""
    email = f"r{secrets.token_hex(5)}@example.com"
    with site.app.app_context():
        user_id = AccountStore(db.session).create_user(email, PASSWORD).id
        db.session.remove()
    return email, user_id, make_token(site.app, user_id)


class ApiUser:
    """An API client that sends back the last position it was given, as clients should."""

    def __init__(self, site: Site):
        self.base = site.base + "/api/v1"
        _, self.user_id, token = new_user(site)
        self.headers = {"Authorization": f"Bearer {token}", "Host": HOST}
        self.position: str | None = None

    def call(self, method: str, path: str, body=None, carry: bool = True) -> Reply:
        headers = dict(self.headers)
        if carry and self.position:
            headers[HEADER] = self.position
        reply = call(method, self.base + path, body, headers)
        if reply.headers.get(HEADER):
            self.position = reply.headers[HEADER]
        return reply


class Browser:
    """A logged-in browser: its session cookie, kept from every answer, carries its position."""

    def __init__(self, site: Site):
        self.base = site.base
        email, self.user_id, _ = new_user(site)
        self.cookie = ""
        form = self.call("GET", "/login")
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        login = self.call("POST", "/login", form={"email": email, "password": PASSWORD, "csrf_token": self.csrf})
        assert login.status == 303, login.text[:300]
        home = self.call("GET", "/")  # a log-in starts a new session: a new CSRF token
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)

    def call(self, method: str, path: str, form=None, headers=None) -> Reply:
        all_headers = {"Host": HOST, "Referer": f"https://{HOST}/", **(headers or {})}
        if self.cookie:
            all_headers["Cookie"] = self.cookie
        reply = call(method, self.base + path, headers=all_headers, form=form)
        for header in reply.headers.get_all("Set-Cookie") or []:
            if header.startswith("session="):
                self.cookie = header.split(";")[0]
        return reply

    def send(self, path: str, content: str) -> Reply:
        return self.call("POST", path, form={"content": content, "csrf_token": self.csrf}, headers={"Accept": "application/json"})


def database_counters(cluster: PrivateCluster) -> int:
    return cluster.stat_database(DATABASE)["xact_commit"]


def wait_for_counters(cluster: PrivateCluster, at_least: int, timeout: float = 25) -> int:
    """xact_commit once it reaches `at_least` (backends flush their statistics within ~10 s of going idle)."""
    deadline = time.monotonic() + timeout
    while True:
        value = database_counters(cluster)
        if value >= at_least or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_every_write_is_read_back_through_the_other_instance(site):
    api, browser = ApiUser(site), Browser(site)
    api_thread = api.call("POST", "/threads", {"title": "api rounds"}).json()["id"]
    started = browser.send("/threads", "round -1")
    assert started.status == 201, started.text[:300]
    chat, last_seen = started.json()["thread_url"], started.json()["item"]["id"]
    same_instance, stale = 0, []

    for n in range(ROUNDS):
        if n % 2 == 0:
            written = api.call("POST", f"/threads/{api_thread}/items", {"role": "user", "content": f"round {n}"})
            assert written.status == 201, written.text[:300]
            read = api.call("GET", f"/threads/{api_thread}/items?order=desc&limit=1")
            assert read.status == 200, read.text[:300]
            seen = read.json()["data"][0]["id"] == written.json()["id"]
        else:
            written = browser.send(f"{chat}/messages", f"round {n}")
            assert written.status == 201, written.text[:300]
            read = browser.call("GET", f"{chat}/items?after={last_seen}", headers={"Accept": "application/json"})
            assert read.status == 200, read.text[:300]
            last_seen = written.json()["item"]["id"]
            seen = [entry["item"]["id"] for entry in read.json()["items"]] == [last_seen]
        same_instance += written.headers["X-Upstream"] == read.headers["X-Upstream"]
        if not seen:
            stale.append(n)

    assert stale == [], f"{len(stale)} reads missed the write just made: rounds {stale[:20]}"
    assert same_instance == 0  # nginx alternated: every read went through the other instance

    # Without the position, the other instance reads the lagging replica: the rounds above are not vacuous.
    blind_misses = 0
    for n in range(10):
        written = api.call("POST", f"/threads/{api_thread}/items", {"role": "user", "content": f"blind {n}"})
        read = api.call("GET", f"/threads/{api_thread}/items?order=desc&limit=1", carry=False)
        assert written.headers["X-Upstream"] != read.headers["X-Upstream"]
        blind_misses += read.json()["data"][0]["id"] != written.json()["id"]
    assert blind_misses >= 5


def test_reads_without_a_preceding_write_land_on_the_replica(site):
    reader = ApiUser(site)
    thread_id = reader.call("POST", "/threads", {"title": "browse me"}).json()["id"]
    for n in range(3):
        assert reader.call("POST", f"/threads/{thread_id}/items", {"role": "user", "content": f"m{n}"}).status == 201
    time.sleep(1.5)  # replayed (200 ms), and every process's probe has seen it
    for _ in range(4):  # each worker caches the token: later reads touch no account table
        reader.call("GET", "/threads", carry=False)
    time.sleep(11)  # the statistics of everything so far are flushed
    primary_before, replica_before = database_counters(site.primary), database_counters(site.replica)

    reads = 400
    for n in range(reads):
        path = f"/threads/{thread_id}/items" if n % 2 else f"/threads/{thread_id}"
        assert reader.call("GET", path, carry=False).status == 200

    replica_after = wait_for_counters(site.replica, replica_before + reads)
    primary_after = database_counters(site.primary)
    assert replica_after - replica_before >= reads
    # The primary only answered the probes' position samples (one a second per worker).
    assert primary_after - primary_before < reads / 5, (primary_after - primary_before, replica_after - replica_before)


@dataclass
class Load:
    site: Site
    errors: list[str] = field(default_factory=list)
    ledger: dict[str, set[str]] = field(default_factory=dict)  # thread id -> acknowledged item ids
    stale: int = 0
    reads: Counter = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)

    def writer(self, user: ApiUser, thread_id: str) -> None:
        acked = self.ledger[thread_id]
        n = 0
        while not self.stop.is_set():
            n += 1
            written = user.call("POST", f"/threads/{thread_id}/items", {"role": "user", "content": f"load {n}"})
            if written.status != 201:
                self.errors.append(f"write {written.status}: {written.text[:200]}")
                continue
            acked.add(written.json()["id"])
            read = user.call("GET", f"/threads/{thread_id}/items?order=desc&limit=1")
            if read.status != 200:
                self.errors.append(f"read after write {read.status}: {read.text[:200]}")
            elif read.json()["data"][0]["id"] != written.json()["id"]:
                self.stale += 1

    def browser(self, user: ApiUser, thread_id: str) -> None:
        while not self.stop.is_set():
            read = user.call("GET", f"/threads/{thread_id}/items", carry=False)
            self.reads["total"] += 1
            if read.status != 200:
                self.errors.append(f"read {read.status}: {read.text[:200]}")


def log_lines(site: Site, text: str) -> dict[str, int]:
    return {upstream: log.read_text().count(text) for upstream, log in site.logs.items()}


def test_a_replica_stopped_under_load_costs_no_error_and_no_acknowledged_write(site):
    load = Load(site)
    browsing = ApiUser(site)
    browsed = browsing.call("POST", "/threads", {"title": "browsed"}).json()["id"]
    browsing.call("POST", f"/threads/{browsed}/items", {"role": "user", "content": "old news"})
    writers = []
    for _ in range(3):
        user = ApiUser(site)
        thread_id = user.call("POST", "/threads", {}).json()["id"]
        load.ledger[thread_id] = set()
        writers.append((user, thread_id))
    workers = [threading.Thread(target=load.writer, args=writer) for writer in writers]
    workers += [threading.Thread(target=load.browser, args=(browsing, browsed)) for _ in range(2)]
    warnings_before = log_lines(site, "is out of rotation: unreachable")
    for worker in workers:
        worker.start()
    try:
        time.sleep(2)
        site.replica.stop("fast")
        stopped_at = load.reads["total"]
        time.sleep(3)
        restarted_at = load.reads["total"]
        site.replica.start()  # returns once the standby accepts read-only connections
        replica_back = database_counters(site.replica)  # its statistics start afresh after a restart
        time.sleep(5)
    finally:
        load.stop.set()
        for worker in workers:
            worker.join(30)

    assert load.errors == [], load.errors[:5]
    assert load.stale == 0
    assert restarted_at - stopped_at > 50  # reads went on while the replica was down: the primary served them
    # Every acknowledged write is there, read back (through the primary, the position says so).
    for user, thread_id in writers:
        acked, stored, after = load.ledger[thread_id], set(), None
        while True:
            page = user.call("GET", f"/threads/{thread_id}/items?limit=100" + (f"&after={after}" if after else "")).json()
            stored.update(item["id"] for item in page["data"])
            if not page["has_more"]:
                break
            after = page["after"]
        assert acked and stored == acked
    # The replica serves the browsing reads again (its probes alone would be some 4 a second).
    assert wait_for_counters(site.replica, replica_back + 150) >= replica_back + 150
    warned = {upstream: count - warnings_before[upstream] for upstream, count in log_lines(site, "is out of rotation: unreachable").items()}
    rotation = [line for log in site.logs.values() for line in log.read_text().splitlines() if "rotation" in line]
    assert all(1 <= count <= 2 for count in warned.values()), rotation  # once per worker process at most
    assert all(count >= 1 for count in log_lines(site, "is back in rotation").values())

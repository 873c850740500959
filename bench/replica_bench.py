"""Read replicas on this machine: throughput without and with one streaming replica, and what the routing costs.

A private primary and its streaming replica (tests/pgcluster.py) run beside wrk and gunicorn on
the same cores, so moving reads to the replica cannot add capacity here: the figures show what
routing costs per request (the CPU of choosing a replica, the write's position read) and where
the work lands, not how far replicas scale. Then, over a delaying link (tests/pgproxy.py, like
Neon in-region), each kind of request's latency and round trips on each server.

Optional in `make bench`: without PostgreSQL's server binaries (initdb, pg_basebackup) it is
skipped with a message. Alone: `.venv/bin/python -m bench.replica_bench [--quick]`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from bench.common import BENCH_SECRET_KEY, INSTANCE_PATH, PgProxy
from bench.serve import served
from bench.wrk_runner import run_wrk

APP_ROLE = "chatapp_bench"
DATABASE = "chatapp_bench"
READ_ITEMS = 1_000
APPEND_THREADS = 200
CONFIGS = ("primary only", "with a replica")
HEADER = "X-Chatapp-Consistency"


@dataclass
class Setup:
    primary_url: str
    replica_url: str
    token: str
    read_thread: str
    threads_file: Path


def unavailable() -> str | None:
    """Why the replica cannot be set up here, or None."""
    from tests.support.pgcluster import postgres_bin_dir

    bin_dir = postgres_bin_dir()
    if bin_dir is None or not (bin_dir / "pg_basebackup").exists():
        return "PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are not installed"
    return None


@contextmanager
def databases() -> Iterator[tuple[object, object, Setup]]:
    """A primary with the schema and the bench's data, and its streaming replica, caught up."""
    from flask_migrate import upgrade

    from chatapp import create_app
    from chatapp.extensions import db
    from chatapp.store import AccountStore, ChatStore
    from tests.support.pgcluster import PrivateCluster

    primary = PrivateCluster()
    replica = None
    try:
        primary.init()
        url = primary.create_app_database(APP_ROLE, DATABASE)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": BENCH_SECRET_KEY, "instance_path": str(INSTANCE_PATH)})
        with app.app_context():
            upgrade()
            accounts, store = AccountStore(db.session), ChatStore(db.session)
            user = accounts.create_user("replicas@example.com", "bench password 123")
            _, token = accounts.create_token(user.id, "bench")
            read_thread = store.create_thread(user.id, title="read target").id
            for n in range(READ_ITEMS):
                store.add_item(user.id, read_thread, role="user", content=f"Message {n}: " + "the quick brown fox " * 8)
            targets = [store.create_thread(user.id).id for _ in range(APPEND_THREADS)]
            db.session.remove()
            db.engine.dispose()
        threads_file = INSTANCE_PATH / "replica_append_threads.txt"
        threads_file.write_text("\n".join(targets) + "\n")
        replica = primary.standby()
        replica.wait_replayed(primary)
        yield primary, replica, Setup(url, replica.url(DATABASE, APP_ROLE), token, read_thread, threads_file)
    finally:
        if replica is not None:
            replica.destroy()
        primary.destroy()


def read_path(setup: Setup) -> str:
    return f"/api/v1/threads/{setup.read_thread}/items?limit=50&order=desc"


def worker_cpu_seconds(base: str) -> float:
    """User + system CPU seconds of the gunicorn workers serving `base` (from /proc): the app's
    own cost per request, which the other work on a shared machine barely changes."""
    bind = base.removeprefix("http://")
    processes = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        processes[int(entry.name)] = (cmdline, int(fields[1]), int(fields[11]) + int(fields[12]))
    masters = {pid for pid, (cmdline, _, _) in processes.items() if bind.encode() in cmdline}
    ticks = sum(cpu for pid, (_, parent, cpu) in processes.items() if parent in masters)
    return ticks / os.sysconf("SC_CLK_TCK")


def throughput(setup: Setup, rounds: int, seconds: int) -> dict:
    """wrk, 16 connections, read and append, alternating the two servers each round; with the
    workers' CPU per request."""
    runs: dict = {endpoint: {config: [] for config in CONFIGS} for endpoint in ("read", "append")}
    with served("chatapp", database_url=setup.primary_url, label="primary-only") as plain, served(
        "chatapp", database_url=setup.primary_url, label="replica", env={"DATABASE_REPLICA_URLS": setup.replica_url}
    ) as routed:
        urls = dict(zip(CONFIGS, (plain, routed), strict=True))

        def once(endpoint: str, config: str, duration: int) -> dict:
            cpu = worker_cpu_seconds(urls[config])
            if endpoint == "read":
                result = run_wrk(urls[config] + read_path(setup), "get", setup.token, seconds=duration)
            else:
                result = run_wrk(urls[config] + "/", "post", setup.token, setup.threads_file, seconds=duration)
            result["app_cpu_ms"] = (worker_cpu_seconds(urls[config]) - cpu) * 1000 / max(result["requests"], 1)
            return result

        for endpoint in runs:
            for config in CONFIGS:
                once(endpoint, config, 2)  # warm: pools, token caches, PostgreSQL's caches
        for number in range(rounds):
            for endpoint in runs:
                for config in CONFIGS if number % 2 == 0 else CONFIGS[::-1]:
                    result = once(endpoint, config, seconds)
                    runs[endpoint][config].append(result)
                    print(f"  replicas round {number + 1} {endpoint:6} {config:15} {result['req_per_s']:8.1f} req/s  "
                          f"p50 {result['latency_ms']['50']:.2f} ms  p99 {result['latency_ms']['99']:.2f} ms  "
                          f"app CPU {result['app_cpu_ms']:.2f} ms/request  errors {result['errors']}", flush=True)
    return runs


def where_reads_go(primary, replica, setup: Setup, seconds: int) -> dict:
    """One wrk read run on the routed server; the transactions each server counted meanwhile."""
    before = primary.stat_database(DATABASE)["xact_commit"], replica.stat_database(DATABASE)["xact_commit"]
    with served("chatapp", database_url=setup.primary_url, label="replica-counts",
                env={"DATABASE_REPLICA_URLS": setup.replica_url}) as routed:
        run_wrk(routed + read_path(setup), "get", setup.token, seconds=1)
        result = run_wrk(routed + read_path(setup), "get", setup.token, seconds=seconds)
    # The servers' backends flush their counters when their connections close (server stopped above).
    deadline = time.monotonic() + 15
    while True:
        after = primary.stat_database(DATABASE)["xact_commit"], replica.stat_database(DATABASE)["xact_commit"]
        if after[1] - before[1] >= result["requests"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return {"requests": result["requests"], "primary": after[0] - before[0], "replica": after[1] - before[1]}


def over_a_link(primary, replica, setup: Setup, delay_ms: float, requests: int) -> dict:
    """One sequential client over a `delay_ms`-each-way link to both servers: the median latency
    and the round trips on each server of a read, an append, and a read right after the client's
    own append (sending the position it got back)."""
    results: dict = {}
    with ExitStack() as stack:
        to_primary = stack.enter_context(PgProxy("127.0.0.1", primary.port, delay_ms=delay_ms))
        to_replica = stack.enter_context(PgProxy("127.0.0.1", replica.port, delay_ms=delay_ms))
        primary_url = make_url(setup.primary_url).set(port=to_primary.port).render_as_string(hide_password=False)
        replica_url = make_url(setup.primary_url).set(port=to_replica.port).render_as_string(hide_password=False)
        for config, env in zip(CONFIGS, ({}, {"DATABASE_REPLICA_URLS": replica_url}), strict=True):
            base = stack.enter_context(served("chatapp", database_url=primary_url, label=f"link-{len(env)}", env=env))
            results[config] = sequential(base, setup, to_primary, to_replica, requests)
    return results


def sequential(base: str, setup: Setup, to_primary: PgProxy, to_replica: PgProxy, requests: int) -> dict:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    auth = {"Authorization": f"Bearer {setup.token}"}
    targets = setup.threads_file.read_text().split()
    position: list[str] = []

    def call(method: str, path: str, body: dict | None = None, carry: bool = False) -> None:
        headers = dict(auth)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if carry and position:
            headers[HEADER] = position[0]
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        response.read()
        if response.status not in (200, 201):
            raise RuntimeError(f"{method} {path} answered {response.status}")
        if response.getheader(HEADER):
            position[:] = [response.getheader(HEADER)]

    def append(n: int) -> None:
        call("POST", f"/api/v1/threads/{targets[n % len(targets)]}/items", {"role": "user", "content": "over a link"})

    kinds = {
        "read": lambda n: call("GET", read_path(setup)),
        "append": append,
        "read after own append": lambda n: call("GET", f"/api/v1/threads/{targets[n % len(targets)]}/items?order=desc&limit=1", carry=True),
    }
    out: dict = {}
    for kind, request in kinds.items():
        for n in range(20):  # warm
            if kind == "read after own append":
                append(n)
            request(n)
        timings, primary_trips, replica_trips = [], 0, 0
        for n in range(requests):
            if kind == "read after own append":
                append(n)
            to_primary.reset(), to_replica.reset()
            started = time.perf_counter()
            request(n)
            timings.append((time.perf_counter() - started) * 1000)
            primary_trips += to_primary.round_trips
            replica_trips += to_replica.round_trips
        out[kind] = {
            "p50_ms": statistics.median(timings),
            "primary_round_trips": primary_trips / requests,
            "replica_round_trips": replica_trips / requests,
        }
    conn.close()
    return out


def run(rounds: int = 3, seconds: int = 8, delay_ms: float = 1.0, link_requests: int = 100) -> dict:
    load_average = os.getloadavg()
    reason = unavailable()
    if reason:
        print(f"bench: skipping the read-replica bench: {reason}", flush=True)
        return {"skipped": reason}
    try:
        with databases() as (primary, replica, setup):
            runs = throughput(setup, rounds, seconds)
            counts = where_reads_go(primary, replica, setup, seconds)
            link = over_a_link(primary, replica, setup, delay_ms, link_requests)
    except RuntimeError as error:  # e.g. no `postgres` user to run the private cluster as root
        reason = str(error).strip().splitlines()[0]
        print(f"bench: skipping the read-replica bench: {reason}", flush=True)
        return {"skipped": reason}
    measured = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"measured": measured, "seconds": seconds, "rounds": rounds, "runs": runs, "counts": counts,
            "delay_ms": delay_ms, "link": link, "load_average": load_average}


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] if key == "req_per_s" else run["latency_ms"][key] for run in runs)


def markdown(results: dict) -> list[str]:
    """The BENCHMARKS.md section."""
    lines = ["## Read replicas (one streaming replica on the same machine)", ""]
    if "skipped" in results:
        return lines + [f"Not measured: {results['skipped']}.", ""]
    runs, counts, link = results["runs"], results["counts"], results["link"]
    lines += [
        "`bench/replica_bench.py`: a private primary and its streaming replica (`pg_basebackup -R`), wrk,",
        "and gunicorn (one instance per configuration, `gunicorn.conf.py` as it is) all share this",
        "machine's cores. So the replica cannot add capacity here: what moves to it is work the same",
        "cores did before. The figures show the cost of routing, not a scale-out.",
        "",
        f"Measured {results['measured']} (load average before: "
        f"{', '.join(f'{value:.1f}' for value in results['load_average'])}; other work on the machine shows as "
        "spread between rounds). wrk, 16 connections, "
        f"{results['seconds']} s, {results['rounds']} alternating round(s), medians:",
        "",
        "| endpoint | configuration | req/s (min–max) | p50 ms | p99 ms | app CPU ms per request |",
        "|---|---|---|---|---|---|",
    ]
    for endpoint in ("read", "append"):
        for config in CONFIGS:
            found = runs[endpoint][config]
            low, high = min(run["req_per_s"] for run in found), max(run["req_per_s"] for run in found)
            lines.append(f"| {endpoint} | {config} | {median_of(found, 'req_per_s'):,.0f} ({low:,.0f}–{high:,.0f}) | "
                         f"{median_of(found, '50'):.2f} | {median_of(found, '99'):.2f} | "
                         f"{statistics.median(run['app_cpu_ms'] for run in found):.2f} |")
    def cpu(endpoint: str, config: str) -> float:
        return statistics.median(run["app_cpu_ms"] for run in runs[endpoint][config])

    read_ratio = median_of(runs["read"][CONFIGS[1]], "req_per_s") / median_of(runs["read"][CONFIGS[0]], "req_per_s")
    lines += [
        "",
        f"Reads with the replica: {read_ratio:.2f}× the requests per second of the primary alone, "
        f"{cpu('read', CONFIGS[1]) - cpu('read', CONFIGS[0]):+.2f} ms of app CPU per request; appends: "
        f"{cpu('append', CONFIGS[1]) - cpu('append', CONFIGS[0]):+.2f} ms (the position read after each "
        "write). On two shared cores that is all this can show: the replica does take the read statements "
        "(below), but the same cores run it, and round-to-round spread exceeds the routing's own cost "
        "(about 0.1 ms of CPU per read, measured in-process). The gain a replica brings is the primary's "
        "capacity it frees on separate hardware, which this machine cannot measure.",
        "",
        f"Where a run of {counts['requests']:,} reads went, after a 1 s warm-up run that the servers count too "
        "(`pg_stat_database.xact_commit` of each server): "
        f"replica {counts['replica']:,}, primary {counts['primary']:,} (the primary's share is the probe's "
        "position sample, one a second per worker, and the token lookups).",
        "",
        f"One sequential client over a {results['delay_ms']:g} ms-each-way link to both servers "
        "(`tests/pgproxy.py`): median latency and round trips per request on each server.",
        "",
        "| request | configuration | p50 ms | primary round trips | replica round trips |",
        "|---|---|---|---|---|",
    ]
    for kind in ("read", "append", "read after own append"):
        for config in CONFIGS:
            row = link[config][kind]
            lines.append(f"| {kind} | {config} | {row['p50_ms']:.2f} | {row['primary_round_trips']:.2f} | "
                         f"{row['replica_round_trips']:.2f} |")
    return lines + [
        "",
        "The round trips are exact (the proxies count them; the fractions are the probes, once a second",
        "per worker). The latencies pass through a Python proxy on a loaded 2-core machine: read them as",
        "orders of magnitude. A read right after the client's own append, with the default",
        "`DB_REPLICA_WAIT_MS=50`, re-reads the replica's position and then reads there: about two round",
        "trips on the replica instead of one on the primary (`DB_REPLICA_WAIT_MS=0` makes it one on the",
        "primary).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round")
    args = parser.parse_args()
    INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
    results = run(rounds=1, seconds=3, link_requests=40) if args.quick else run()
    (INSTANCE_PATH / "replicas.json").write_text(json.dumps(results, indent=1) + "\n")
    print("\n".join(markdown(results)))


if __name__ == "__main__":
    main()

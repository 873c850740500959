"""HTTP throughput and latency: chatapp and the baseline under the same gunicorn settings, with wrk.

Endpoints: GET the newest 50 items of the 1,000-item thread, and POST a message to one of the
1,000 append threads at random. Runs alternate between the apps (the order flips each round).
`run` serves both under gunicorn.conf.py as it is (gthread); `run_sync` under five sync workers,
as the outside reviewer measured. bench/link_bench.py reuses `alternate` over the link proxy.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from bench.common import INSTANCE_PATH
from bench.connections import count_new_connections
from bench.seed import Seeded
from bench.serve import SYNC_WORKERS, served
from bench.wrk_runner import CONNECTIONS, run_wrk

APP_NAMES = ("chatapp", "baseline")
ENDPOINTS = ("read", "append")


def read_path(seeded: Seeded) -> str:
    return f"/api/v1/threads/{seeded.read_thread}/items?limit=50&order=desc"


def threads_file(seeded: Seeded) -> Path:
    """The append threads' ids, one a line, for bench/wrk/bench.lua."""
    path = INSTANCE_PATH / "append_threads.txt"
    path.write_text("\n".join(seeded.append_threads) + "\n")
    return path


def check(base: str, seeded: Seeded) -> None:
    """Both endpoints answer as expected before anything is timed."""
    request = urllib.request.Request(
        base + read_path(seeded), headers={"Authorization": f"Bearer {seeded.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.loads(response.read())
    if len(body["data"]) != 50:
        raise RuntimeError(f"{base}: the read answered {len(body['data'])} items, not 50")
    request = urllib.request.Request(
        f"{base}/api/v1/threads/{seeded.append_threads[0]}/items",
        data=json.dumps({"role": "user", "content": "check"}).encode(),
        headers={"Authorization": f"Bearer {seeded.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 201:
            raise RuntimeError(f"{base}: the append answered {response.status}, not 201")


def alternate(
    urls: dict[str, str],
    seeded: Seeded,
    *,
    rounds: int,
    seconds: int,
    connections: int = CONNECTIONS,
    warmup_seconds: int = 2,
    label: str = "",
) -> dict[str, dict[str, list[dict]]]:
    """wrk runs of both endpoints on both apps, `rounds` alternating rounds; endpoint -> app -> runs."""
    targets = threads_file(seeded)
    runs: dict[str, dict[str, list[dict]]] = {e: {a: [] for a in urls} for e in ENDPOINTS}

    def once(endpoint: str, app_name: str, duration: int) -> dict:
        if endpoint == "read":
            return run_wrk(
                urls[app_name] + read_path(seeded), "get", seeded.token, seconds=duration, connections=connections
            )
        return run_wrk(urls[app_name] + "/", "post", seeded.token, targets, seconds=duration, connections=connections)

    names = tuple(urls)
    for endpoint in ENDPOINTS:  # warm up: imports, pools, token caches, PostgreSQL's caches
        for app_name in names:
            once(endpoint, app_name, warmup_seconds)
    for round_number in range(rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        for endpoint in ENDPOINTS:
            for app_name in order:
                result = once(endpoint, app_name, seconds)
                print(
                    f"  {label}round {round_number + 1} {endpoint:6} {app_name:8} c={connections:<3}"
                    f"{result['req_per_s']:8.1f} req/s  p50 {result['latency_ms']['50']:.2f} ms  "
                    f"p99 {result['latency_ms']['99']:.2f} ms  errors {result['errors']}",
                    flush=True,
                )
                runs[endpoint][app_name].append(result)
    return runs


def run(seeded: Seeded, rounds: int = 3, seconds: int = 10, connection_requests: int = 10_000) -> dict:
    """Loopback, gunicorn.conf.py's gthread workers, 16 connections; then new connections per request."""
    with served("chatapp") as chatapp_url, served("baseline") as baseline_url:
        urls = {"chatapp": chatapp_url, "baseline": baseline_url}
        for base in urls.values():
            check(base, seeded)
        runs = alternate(urls, seeded, rounds=rounds, seconds=seconds)
        connections = {
            app_name: count_new_connections(urls[app_name], seeded, connection_requests)
            for app_name in APP_NAMES
        }
    return {"seconds": seconds, "runs": runs, "connections": connections}


def run_sync(seeded: Seeded, rounds: int = 3, seconds: int = 5) -> dict:
    """Loopback, both apps under `-k sync -w 5` (no keep-alive: wrk reconnects per request)."""
    with served("chatapp", gunicorn_args=SYNC_WORKERS, label="sync") as chatapp_url, served(
        "baseline", gunicorn_args=SYNC_WORKERS, label="sync"
    ) as baseline_url:
        urls = {"chatapp": chatapp_url, "baseline": baseline_url}
        for base in urls.values():
            check(base, seeded)
        runs = alternate(urls, seeded, rounds=rounds, seconds=seconds, warmup_seconds=1, label="sync ")
    return {"gunicorn_args": " ".join(SYNC_WORKERS), "connections": CONNECTIONS, "seconds": seconds, "runs": runs}

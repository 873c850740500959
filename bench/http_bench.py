"""HTTP throughput and latency: chatapp and the baseline under the same gunicorn settings, with wrk.

Endpoints: GET the newest 50 items of the 1,000-item thread, and POST a message to one of the
1,000 append threads at random. Runs alternate between the apps (the order flips each round).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from bench.common import INSTANCE_PATH
from bench.connections import count_new_connections
from bench.seed import Seeded
from bench.serve import served
from bench.wrk_runner import run_wrk

APP_NAMES = ("chatapp", "baseline")
ENDPOINTS = ("read", "append")


def read_path(seeded: Seeded) -> str:
    return f"/api/v1/threads/{seeded.read_thread}/items?limit=50&order=desc"


def _check(base: str, seeded: Seeded) -> None:
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


def run(seeded: Seeded, rounds: int = 3, seconds: int = 10, connection_requests: int = 10_000) -> dict:
    threads_file = INSTANCE_PATH / "append_threads.txt"
    threads_file.write_text("\n".join(seeded.append_threads) + "\n")
    runs: dict[str, dict[str, list[dict]]] = {e: {a: [] for a in APP_NAMES} for e in ENDPOINTS}
    with served("chatapp") as chatapp_url, served("baseline") as baseline_url:
        urls = {"chatapp": chatapp_url, "baseline": baseline_url}
        for base in urls.values():
            _check(base, seeded)

        def once(endpoint: str, app_name: str, duration: int) -> dict:
            if endpoint == "read":
                return run_wrk(urls[app_name] + read_path(seeded), "get", seeded.token, seconds=duration)
            return run_wrk(urls[app_name] + "/", "post", seeded.token, threads_file, seconds=duration)

        for endpoint in ENDPOINTS:  # warm up: imports, pools, token caches, PostgreSQL's caches
            for app_name in APP_NAMES:
                once(endpoint, app_name, 2)
        for round_number in range(rounds):
            order = APP_NAMES if round_number % 2 == 0 else APP_NAMES[::-1]
            for endpoint in ENDPOINTS:
                for app_name in order:
                    result = once(endpoint, app_name, seconds)
                    print(
                        f"  round {round_number + 1} {endpoint:6} {app_name:8} "
                        f"{result['req_per_s']:8.1f} req/s  p50 {result['latency_ms']['50']:.2f} ms  "
                        f"p99 {result['latency_ms']['99']:.2f} ms  errors {result['errors']}",
                        flush=True,
                    )
                    runs[endpoint][app_name].append(result)
        connections = {
            app_name: count_new_connections(urls[app_name], seeded, connection_requests)
            for app_name in APP_NAMES
        }
    return {"runs": runs, "connections": connections}

"""A Neon-like link: both apps served against PostgreSQL through tests/support/pgproxy.py's delaying proxy.

The proxy holds every chunk `delay_ms` in each direction (1 ms: a 2 ms round trip, a client in
the same cloud region as Neon), so each database round trip a request makes costs a network
RTT, as in production, instead of a few loopback microseconds. Each app gets its own proxy, so
its counts are its own. Two measurements:

- round trips per request: N sequential requests of each kind from one keep-alive HTTP client
  after a warm-up, counted by the proxy (client 'Q' and 'S' messages) at steady state;
- wrk at 4 and 16 connections, alternating rounds: p50, p99 and req/s of both apps.
"""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

from bench.common import DATABASE_URL, PgProxy, link_proxy, round_trip_ms, url_through
from bench.http_bench import APP_NAMES, ENDPOINTS, alternate, check, read_path
from bench.seed import Seeded
from bench.serve import served

CONNECTION_LEVELS = (4, 16)
SETTLE_SECONDS = 0.3  # a request's teardown (e.g. its ROLLBACK) may follow its response


def count_round_trips(base: str, proxy: PgProxy, seeded: Seeded, requests: int = 50, warmup: int = 20) -> dict:
    """Round trips per request through `proxy`, one sequential client, after `warmup` requests."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    auth = {"Authorization": f"Bearer {seeded.token}"}
    body = json.dumps({"role": "user", "content": "round trip count"})
    sent = [0]

    def request(kind: str) -> None:
        sent[0] += 1
        if kind == "read":
            conn.request("GET", read_path(seeded), headers=auth)
        else:
            thread = seeded.append_threads[sent[0] % len(seeded.append_threads)]
            conn.request(
                "POST", f"/api/v1/threads/{thread}/items", body, {**auth, "Content-Type": "application/json"}
            )
        response = conn.getresponse()
        response.read()
        if response.status not in (200, 201):
            raise RuntimeError(f"{base}: {kind} answered {response.status} while counting round trips")

    results = {}
    try:
        for kind in ENDPOINTS:
            for _ in range(warmup):
                request(kind)
            time.sleep(SETTLE_SECONDS)
            round_trips, queries, connections = proxy.round_trips, proxy.queries(), proxy.connections
            for _ in range(requests):
                request(kind)
            time.sleep(SETTLE_SECONDS)
            results[kind] = {
                "requests": requests,
                "round_trips": proxy.round_trips - round_trips,
                "per_request": (proxy.round_trips - round_trips) / requests,
                "simple_queries": proxy.queries() - queries,
                "new_connections": proxy.connections - connections,
            }
    finally:
        conn.close()
    return results


def run(
    seeded: Seeded,
    delay_ms: float = 1.0,
    rounds: int = 3,
    seconds: int = 8,
    connection_levels: tuple[int, ...] = CONNECTION_LEVELS,
    count_requests: int = 50,
) -> dict:
    with link_proxy(delay_ms) as chatapp_proxy, link_proxy(delay_ms) as baseline_proxy:
        proxies = {"chatapp": chatapp_proxy, "baseline": baseline_proxy}
        rtt = {"loopback_ms": round_trip_ms(DATABASE_URL), "link_ms": round_trip_ms(url_through(chatapp_proxy))}
        print(f"  SELECT 1 round trip: loopback {rtt['loopback_ms']:.3f} ms, link {rtt['link_ms']:.3f} ms", flush=True)
        with served("chatapp", database_url=url_through(chatapp_proxy), label="link") as chatapp_url, served(
            "baseline", database_url=url_through(baseline_proxy), label="link"
        ) as baseline_url:
            urls = {"chatapp": chatapp_url, "baseline": baseline_url}
            for base in urls.values():
                check(base, seeded)
            round_trips = {}
            for app_name in APP_NAMES:
                round_trips[app_name] = count_round_trips(urls[app_name], proxies[app_name], seeded, count_requests)
                print(
                    f"  round trips per request, {app_name}: "
                    + ", ".join(f"{kind} {round_trips[app_name][kind]['per_request']:g}" for kind in ENDPOINTS),
                    flush=True,
                )
            runs = {
                str(level): alternate(
                    urls, seeded, rounds=rounds, seconds=seconds, connections=level, label="link "
                )
                for level in connection_levels
            }
    return {
        "delay_ms": delay_ms,
        "select_1_ms": rtt,
        "seconds": seconds,
        "round_trips": round_trips,
        "runs": runs,
    }

"""The report's sections for issue #11, "One database round trip per request": the targets'
summary, round trips per request, the link mode, the sync-worker run and the peer."""

from __future__ import annotations

import statistics

from bench.summary import fmt, met, sample, target, verdict, wrk_summary

# The targets: (minimum, aim), as ratios where above 1× chatapp is ahead.
LOOPBACK_READ = (1.0, 2.0)  # req/s chatapp / baseline
LOOPBACK_APPEND = (0.8, 1.2)  # req/s chatapp / baseline
PEER_APPEND = (1.0, 1.5)  # store append ops/s chatapp / langchain-postgres, loopback
LINK_P50 = (1.4, 2.0)  # p50 baseline / chatapp over the link, read and append
ROUND_TRIPS = 1  # per read and per append, steady state

RATIO_NOTE = (
    "Ratios compare medians and read the same way throughout: above 1× chatapp is ahead (req/s and "
    "ops/s are chatapp / other; latencies and round trips are other / chatapp)."
)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _rtt_label(link: dict) -> str:
    return f"{2 * link['delay_ms']:g} ms RTT link"


def _levels(link: dict) -> dict[str, dict]:
    return {level: wrk_summary(runs) for level, runs in link["runs"].items()}


def _round_trips(link: dict, app_name: str) -> str:
    counts = link["round_trips"][app_name]
    return f"{counts['read']['per_request']:g} / {counts['append']['per_request']:g}"


def summary(results: dict) -> list[str]:
    """The issue's targets, near the top of the report."""
    http = wrk_summary(results["http"]["runs"])
    link, peer = results.get("link"), results.get("peer", {})
    lines = [
        "## Issue #11: one database round trip per request",
        "",
        "| figure | target | chatapp | baseline / peer | ratio | |",
        "|---|---|---|---|---|---|",
    ]
    if link:
        counts = link["round_trips"]["chatapp"]
        ok = all(counts[kind]["per_request"] <= ROUND_TRIPS for kind in ("read", "append"))
        lines.append(_row(
            "round trips per read / per append, steady state", f"{ROUND_TRIPS} / {ROUND_TRIPS}",
            _round_trips(link, "chatapp"), f"{_round_trips(link, 'baseline')} (baseline)", "—", met(ok),
        ))
    for endpoint, goal in (("read", LOOPBACK_READ), ("append", LOOPBACK_APPEND)):
        row = http[endpoint]
        lines.append(_row(
            f"loopback {endpoint} req/s vs baseline", target(*goal), f"{_median(row['chatapp']['req_per_s']):.0f}",
            f"{_median(row['baseline']['req_per_s']):.0f}", f"{row['ratio']:.2f}×", verdict(row["ratio"], *goal),
        ))
    if "loopback" in peer:
        append = peer["loopback"]["append"]
        ratio = append["chatapp"]["median"] / append["langchain"]["median"]
        lines.append(_row(
            "store append ops/s vs langchain-postgres, loopback", target(*PEER_APPEND),
            f"{append['chatapp']['median']:.0f}", f"{append['langchain']['median']:.0f}", f"{ratio:.2f}×",
            verdict(ratio, *PEER_APPEND),
        ))
    if link:
        for endpoint in ("read", "append"):
            for level, levels in _levels(link).items():
                row = levels[endpoint]
                lines.append(_row(
                    f"{_rtt_label(link)} {endpoint} p50 baseline/chatapp, {level} connections", target(*LINK_P50),
                    f"{_median(row['chatapp']['p50']):.2f} ms", f"{_median(row['baseline']['p50']):.2f} ms",
                    f"{row['p50_ratio']:.2f}×", verdict(row["p50_ratio"], *LINK_P50),
                ))
    lines += ["", RATIO_NOTE]
    if peer.get("skipped"):
        lines += ["", f"The peer comparison was skipped: {peer['skipped']}."]
    return lines + [""]


def sections(results: dict, plot_name: str) -> list[str]:
    lines: list[str] = []
    if results.get("link"):
        lines += round_trips(results) + link_mode(results, plot_name)
    if results.get("http_sync"):
        lines += sync_workers(results)
    if results.get("peer", {}).get("loopback"):
        lines += peer(results)
    return lines


def round_trips(results: dict) -> list[str]:
    link, statements = results["link"], results["statements"]
    lines = [
        "## Round trips per request (issue #11)",
        "",
        "Counted by the link proxy (`tests/support/pgproxy.py`): every client message the app must wait on the",
        "server for, a simple query ('Q': also each pool ping, BEGIN, COMMIT and ROLLBACK) or the Sync",
        "that ends an extended-protocol batch ('S'). Each app, served as above, has a proxy of its own;",
        f"one keep-alive HTTP client sends {link['round_trips']['chatapp']['read']['requests']} sequential "
        "requests of each kind after a 20-request",
        "warm-up (steady state: pool filled, token cached). SQL statements per request are the test",
        "client's count (*Cost per request* below).",
        "",
        "| figure | target | chatapp | baseline | ratio | |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("read", "append"):
        c, b = link["round_trips"]["chatapp"][kind], link["round_trips"]["baseline"][kind]
        ratio = b["per_request"] / c["per_request"] if c["per_request"] else float("inf")
        lines.append(_row(
            f"round trips per {kind}, steady state", ROUND_TRIPS, f"{c['per_request']:g}", f"{b['per_request']:g}",
            f"{ratio:.2f}×", met(c["per_request"] <= ROUND_TRIPS),
        ))
    for kind in ("read", "append"):
        c, b = statements["chatapp"][kind]["per_request"], statements["baseline"][kind]["per_request"]
        lines.append(_row(f"SQL statements per {kind}", "—", f"{c:g}", f"{b:g}", f"{b / c:.2f}×", "—"))
    new = {
        app_name: sum(counts[kind]["new_connections"] for kind in ("read", "append"))
        for app_name, counts in link["round_trips"].items()
    }
    lines.append(_row(
        "new database connections during the counted requests", 0, new["chatapp"], new["baseline"], "—",
        met(new["chatapp"] == 0),
    ))
    return lines + ["", RATIO_NOTE, ""]


def link_mode(results: dict, plot_name: str) -> list[str]:
    link = results["link"]
    levels = _levels(link)
    rounds = len(next(iter(link["runs"].values()))["read"]["chatapp"])
    rtt = link["select_1_ms"]
    lines = [
        f"## A Neon-like link: {link['delay_ms']:g} ms each way ({_rtt_label(link)})",
        "",
        "Both apps served as above (gunicorn.conf.py), each against PostgreSQL through its own",
        f"`tests/support/pgproxy.py` proxy holding every chunk {link['delay_ms']:g} ms in each direction, so every database",
        "round trip costs a network RTT, as it does against Neon from the same region. A `SELECT 1`",
        f"took {rtt['link_ms']:.2f} ms through the proxy ({rtt['loopback_ms']:.3f} ms direct): the proxy is Python "
        "asyncio on the",
        "same two cores and adds its own time to the delay. wrk at "
        f"{' and '.join(levels)} connections, {link['seconds']} s runs,",
        f"{rounds} alternating round(s) (chatapp, baseline, then the other way round), same endpoints as on",
        "loopback (`bench/link_bench.py`; `bench/run.py --link-delay-ms` sets the delay).",
        "",
        "| figure | target | chatapp | baseline | ratio | |",
        "|---|---|---|---|---|---|",
    ]
    for endpoint in ("read", "append"):
        for level, summary in levels.items():
            row = summary[endpoint]
            lines.append(_row(
                f"{endpoint} p50 ms, {level} connections", target(*LINK_P50), fmt(row["chatapp"]["p50"], 2),
                fmt(row["baseline"]["p50"], 2), f"{row['p50_ratio']:.2f}×", verdict(row["p50_ratio"], *LINK_P50),
            ))
    for endpoint in ("read", "append"):
        for level, summary in levels.items():
            row = summary[endpoint]
            lines.append(_row(
                f"{endpoint} p99 ms, {level} connections", "—", fmt(row["chatapp"]["p99"], 2),
                fmt(row["baseline"]["p99"], 2), f"{row['p99_ratio']:.2f}×", "—",
            ))
    for endpoint in ("read", "append"):
        for level, summary in levels.items():
            row = summary[endpoint]
            lines.append(_row(
                f"{endpoint} req/s, {level} connections", "—", fmt(row["chatapp"]["req_per_s"]),
                fmt(row["baseline"]["req_per_s"]), f"{row['ratio']:.2f}×", "—",
            ))
    errors = {
        app_name: sum(summary[e][app_name]["errors"] for summary in levels.values() for e in ("read", "append"))
        for app_name in ("chatapp", "baseline")
    }
    lines += [
        "",
        f"Non-2xx or socket errors over all link runs: chatapp {errors['chatapp']}, baseline {errors['baseline']}. "
        f"The plot's lower row ({plot_name}) shows the link runs' percentiles.",
        "",
    ]
    return lines


def sync_workers(results: dict) -> list[str]:
    sync = results["http_sync"]
    summary = wrk_summary(sync["runs"])
    rounds = len(sync["runs"]["read"]["chatapp"])
    lines = [
        "## Loopback under sync workers (the outside reviewer's setup)",
        "",
        f"Both apps under `gunicorn -c gunicorn.conf.py {sync['gunicorn_args']}` (gunicorn turns",
        "`-k sync` into gthread when threads > 1, hence `--threads 1`); sync workers close the connection",
        f"after each response, so wrk reconnects for every request. wrk at {sync['connections']} connections, "
        f"{sync['seconds']} s runs,",
        f"{rounds} alternating round(s), on loopback.",
        "",
        "| figure | target | chatapp | baseline | ratio | |",
        "|---|---|---|---|---|---|",
    ]
    for endpoint, goal in (("read", LOOPBACK_READ), ("append", LOOPBACK_APPEND)):
        row = summary[endpoint]
        lines.append(_row(
            f"{endpoint} req/s", target(*goal), fmt(row["chatapp"]["req_per_s"]), fmt(row["baseline"]["req_per_s"]),
            f"{row['ratio']:.2f}×", verdict(row["ratio"], *goal),
        ))
    for endpoint in ("read", "append"):
        row = summary[endpoint]
        for name, key in (("p50", "p50_ratio"), ("p99", "p99_ratio")):
            lines.append(_row(
                f"{endpoint} {name} ms", "—", fmt(row["chatapp"][name], 2), fmt(row["baseline"][name], 2),
                f"{row[key]:.2f}×", "—",
            ))
    errors = {a: summary["read"][a]["errors"] + summary["append"][a]["errors"] for a in ("chatapp", "baseline")}
    lines += ["", f"Non-2xx or socket errors: chatapp {errors['chatapp']}, baseline {errors['baseline']}.", ""]
    return lines


def peer(results: dict) -> list[str]:
    peer = results["peer"]
    versions = ", ".join(f"{name} {v}" for name, v in peer["versions"].items())
    small, big = peer["sizes"]
    rounds = len(peer["loopback"]["append"]["chatapp"]["values"])
    lines = [
        "## The peer: langchain-postgres's PostgresChatMessageHistory",
        "",
        f"Store level, no HTTP, one sequential client; {versions}.",
        "chatapp's `ChatStore` on its pooled engine (session removed after each call, as at the end of",
        "a request) against `PostgresChatMessageHistory` on a psycopg 3 connection, as its docs set it",
        "up; its table is made by its own `create_tables` in the bench database. Append: `add_item`",
        "against `add_message` (which commits). Read the newest 50: `list_items(limit=50,",
        "order=\"desc\")` against `messages[-50:]`, langchain's on a second connection in autocommit mode",
        "(on the first, a read would leave a transaction open, which slows every other writer's updates:",
        "bench/ANALYSIS.md): langchain-postgres cannot page, so it reads the whole",
        f"history. Histories of {small:,} and {big:,} messages (langchain's seeded through `add_messages`).",
        f"{rounds} round(s) of each figure (`bench/peer_bench.py`); within a round the stores and figures take",
        "turns of about 0.1 s, so a shift in the shared machine's speed hits both stores alike (with",
        "turns of a whole round the append ratio swung from 0.84× to 1.42× between runs on one host). The",
        "link is the same delaying proxy as above, one per store. Round trips counted by the proxy over",
        "50 calls after a warm-up.",
        "",
        "| figure | target | chatapp | langchain-postgres | ratio | |",
        "|---|---|---|---|---|---|",
    ]
    link_label = f"{2 * peer['delay_ms']:g} ms RTT link"
    for figure, name in (
        ("append", "append one message, ops/s"),
        (f"read_{small}", f"newest 50 of {small:,}, ops/s"),
        (f"read_{big}", f"newest 50 of {big:,}, ops/s"),
    ):
        for mode, mode_label in (("loopback", "loopback"), ("link", link_label)):
            c, lc = peer[mode][figure]["chatapp"], peer[mode][figure]["langchain"]
            ratio = c["median"] / lc["median"]
            goal = figure == "append" and mode == "loopback"
            lines.append(_row(
                f"{name}, {mode_label}", target(*PEER_APPEND) if goal else "—", sample(c), sample(lc),
                f"{ratio:.2f}×", verdict(ratio, *PEER_APPEND) if goal else "—",
            ))
    for figure, name in (("append", "round trips per append"), (f"read_{small}", f"round trips per read of {small:,}")):
        c = peer["round_trips"]["chatapp"][figure]["per_call"]
        lc = peer["round_trips"]["langchain"][figure]["per_call"]
        lines.append(_row(name, "—", f"{c:g}", f"{lc:g}", f"{lc / c:.2f}×" if c else "—", "—"))
    return lines + ["", RATIO_NOTE, ""]

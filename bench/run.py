"""`make bench`: create the bench database, seed it, run every benchmark, write docs/BENCHMARKS.md.

    .venv/bin/python -m bench.run            # the full suite, ~11 minutes on 2 cores
    .venv/bin/python -m bench.run --quick    # a smoke run (~2 minutes); writes to instance/bench/, not docs/
    .venv/bin/python -m bench.run --link-delay-ms 5   # the link mode's one-way delay (default 1 ms)

Needs local PostgreSQL (BENCH_SERVER_URL, default postgresql://postgres@127.0.0.1:5432/postgres;
the database BENCH_DATABASE, default chatapp_bench, is created and dropped) and wrk (installed
with apt-get when missing and running as root). Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import INSTANCE_PATH, ROOT, chatapp_app, create_database, drop_database

DOCS = ROOT / "docs"
ANALYSIS = Path(__file__).resolve().parent / "ANALYSIS.md"


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("bench: wrk is missing; install it with `sudo apt-get install wrk`")
    print("bench: installing wrk with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, check=True)


def migrate() -> None:
    from flask_migrate import upgrade

    from chatapp.extensions import db

    app = chatapp_app()
    with app.app_context():
        upgrade()
        db.engine.dispose()


_step_started: list[float] = []


def step(name: str) -> None:
    """Announce the next step, with how long the previous one took."""
    now = time.perf_counter()
    took = f" (previous step: {now - _step_started[0]:.0f} s)" if _step_started else ""
    _step_started[:] = [now]
    print(f"bench: {name}{took}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs; output to instance/bench/")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the bench database")
    parser.add_argument(
        "--link-delay-ms", type=float, default=1.0,
        help="the link mode's delay per direction, in ms (default 1: a 2 ms round trip, like Neon in-region)",
    )
    args = parser.parse_args()

    from bench import (
        http_bench,
        import_bench,
        link_bench,
        machine,
        pagination,
        peer_bench,
        replica_bench,
        report,
        search_bench,
        statements,
        store_bench,
    )
    from bench.seed import seed

    ensure_wrk()
    started = time.perf_counter()
    out_dir = INSTANCE_PATH if args.quick else DOCS
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "command": "make bench" + (" (bench/run.py --quick)" if args.quick else "  (= .venv/bin/python -m bench.run)"),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine.describe(),
    }
    step("creating and migrating the bench database")
    create_database()
    try:
        migrate()
        step("seeding")
        seeded = seed()
        results["seed"] = seeded.as_dict()
        step("store operations per second (chatapp, raw psycopg2, connect per call)")
        results["store"] = store_bench.run(seeded, seconds=0.5 if args.quick else 1.5)
        step(f"the peer: langchain-postgres against ChatStore (loopback and {args.link_delay_ms:g} ms link)")
        results["peer"] = peer_bench.run(
            seeded, delay_ms=args.link_delay_ms, seconds=0.3 if args.quick else 1.5, rounds=1 if args.quick else 3
        )
        step("pagination flatness")
        results["pagination"] = pagination.run(seeded, calls=100 if args.quick else 300)
        step("SQL statements per request")
        results["statements"] = statements.run(seeded)
        step("HTTP: wrk against chatapp and the baseline under gunicorn")
        results["http"] = http_bench.run(
            seeded,
            rounds=1 if args.quick else 3,
            seconds=3 if args.quick else 10,
            connection_requests=2_000 if args.quick else 10_000,
        )
        step("HTTP: wrk against both apps under `gunicorn -k sync -w 5` (the outside reviewer's setup)")
        results["http_sync"] = http_bench.run_sync(
            seeded, rounds=1 if args.quick else 3, seconds=2 if args.quick else 5
        )
        step(f"HTTP over a {args.link_delay_ms:g} ms-each-way link (tests/support/pgproxy.py): round trips, then wrk")
        results["link"] = link_bench.run(
            seeded, delay_ms=args.link_delay_ms, rounds=1 if args.quick else 3, seconds=2 if args.quick else 8
        )
        step("read replicas: a private primary and its streaming replica (skipped without pg_basebackup)")
        results["replicas"] = replica_bench.run(
            rounds=1 if args.quick else 3, seconds=3 if args.quick else 8, delay_ms=args.link_delay_ms,
            link_requests=40 if args.quick else 100,
        )
        # Last: it adds about 300,000 messages (29,000 with --quick) that the other steps must not see.
        step("search latency, legacy import speed, export memory (issue #15)")
        results["data"] = {
            "search": search_bench.run(quick=args.quick),
            "legacy": import_bench.run_legacy(quick=args.quick),
            "export": import_bench.run_export(quick=args.quick),
        }
    finally:
        if not args.keep_database:
            drop_database()
    step("writing the report")
    results["seconds"] = time.perf_counter() - started
    if ANALYSIS.exists():
        results["notes"] = ANALYSIS.read_text().strip().splitlines()

    (out_dir / "benchmarks.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    report.plot(results, out_dir / report.PLOT_NAME)
    (out_dir / "BENCHMARKS.md").write_text(report.markdown(results, report.PLOT_NAME))
    print(f"bench: wrote {out_dir / 'BENCHMARKS.md'} in {results['seconds'] / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()

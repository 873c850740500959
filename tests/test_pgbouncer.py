"""The whole JSON API test suite, once more, through PgBouncer in pool_mode=transaction (the mode
of Neon's -pooler URLs): chatapp must not rely on anything a transaction pooler breaks."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

from support.databases import PG_SERVER_URL, require_postgres
from support.frontends import pgbouncer

ROOT = Path(__file__).resolve().parent.parent
API_SUITE = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests").glob("test_api*.py"))


def pgbouncer_stats(port: int) -> dict[str, str]:
    """pool_mode and the number of transactions PgBouncer has carried, from its admin console."""
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="pgbouncer")
    conn.autocommit = True
    with closing(conn), conn.cursor() as cur:
        cur.execute("SHOW CONFIG")
        config = {row[0]: row[1] for row in cur.fetchall()}
        cur.execute("SHOW STATS")
        columns = [column.name for column in cur.description]
        transactions = sum(dict(zip(columns, row, strict=True))["total_xact_count"] for row in cur.fetchall())
    return {"pool_mode": config["pool_mode"], "transactions": transactions}


def test_api_suite_passes_through_pgbouncer_in_transaction_mode(tmp_path):
    require_postgres()
    assert API_SUITE, "the API test suite is missing"
    server = make_url(PG_SERVER_URL)
    with pgbouncer(server.host or "127.0.0.1", server.port or 5432) as port:
        through_pooler = server.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        result = subprocess.run(
            [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "--basetemp", str(tmp_path / "inner"),
                "-k", "not sqlite",  # the PostgreSQL half of the suite: SQLite has no pooler
                *API_SUITE,
            ],
            cwd=ROOT,
            env={**os.environ, "TEST_DATABASE_URL": through_pooler},
            capture_output=True,
            text=True,
            timeout=900,
        )
        stats = pgbouncer_stats(port)

    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert stats["pool_mode"] == "transaction"
    assert stats["transactions"] > 100  # the suite really went through the pooler

"""A private PostgreSQL cluster on a spare localhost port, for tests that stop and restart the server,
and streaming replicas of it (`standby()`).

The shared server at 5432 is never restarted. initdb/pg_ctl refuse to run as root, so under root
the cluster belongs to the `postgres` user and every command runs through `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

from .databases import free_port


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin with initdb and pg_ctl, or None."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


class PrivateCluster:
    """initdb + pg_ctl on a temporary directory; trust auth on 127.0.0.1 only."""

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bin = bin_dir
        self.port = free_port()
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="chatapp-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.settings: dict[str, str] = {}  # extra `-c name=value` for every start
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *command: str, timeout: float = 60, check: bool = True) -> None:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text()[-3000:]
        except OSError:
            return ""

    def init(self) -> PrivateCluster:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )
        return self.start()

    def start(self) -> PrivateCluster:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=100"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast", check: bool = True) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=check)

    def restart(self, mode: str = "fast", down_seconds: float = 0.0) -> None:
        """Stop with `mode`, stay down for `down_seconds`, start again (returns once it accepts)."""
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()

    def destroy(self) -> None:
        self.stop("immediate", check=False)  # it may be stopped already
        shutil.rmtree(self.root, ignore_errors=True)

    def standby(self, **settings: str) -> PrivateCluster:
        """A hot-standby streaming replica of this cluster on another port, started.

        `pg_basebackup -R` copies the data directory and writes standby.signal and a
        primary_conninfo for 127.0.0.1 (initdb's trust rules cover replication connections from
        there; wal_level=replica and hot_standby=on are PostgreSQL's defaults). `settings` apply
        at every start, e.g. recovery_min_apply_delay="200ms".
        """
        replica = PrivateCluster()
        replica.settings = dict(settings)
        replica._run(
            str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-D", str(replica.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync", timeout=120,
        )
        return replica.start()

    def replay_position(self) -> int:
        """A replica's pg_last_wal_replay_lsn(), as a number."""
        return self.execute("SELECT pg_last_wal_replay_lsn() - '0/0'")[0][0]

    def current_position(self) -> int:
        """A primary's pg_current_wal_lsn(), as a number."""
        return self.execute("SELECT pg_current_wal_lsn() - '0/0'")[0][0]

    def wait_replayed(self, primary: PrivateCluster, timeout: float = 30) -> None:
        """Wait until this replica has replayed everything the primary has written so far."""
        target = primary.current_position()
        deadline = time.monotonic() + timeout
        while self.replay_position() < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not replay {target} within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.02)

    def stat_database(self, database: str) -> dict[str, int]:
        """pg_stat_database's transaction and row counters for `database`, as last flushed."""
        self.execute("SELECT pg_stat_clear_snapshot()")
        row = self.execute(
            "SELECT xact_commit, tup_returned, tup_fetched FROM pg_stat_database WHERE datname = %s", (database,)
        )[0]
        return {"xact_commit": int(row[0]), "tup_returned": int(row[1]), "tup_fetched": int(row[2])}

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self):
        """An autocommit superuser connection to the cluster's `postgres` database."""
        conn = psycopg2.connect(self.url(), connect_timeout=5)
        conn.autocommit = True
        return conn

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with closing(self.admin()) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def create_app_database(self, role: str, database: str) -> str:
        """A login role owning a new database; returns the URL the app should use."""
        self.execute(f'CREATE ROLE "{role}" LOGIN')
        self.execute(f'CREATE DATABASE "{database}" OWNER "{role}"')
        return self.url(database, role)

    def terminate_app_connections(self, application_name: str = "chatapp") -> int:
        """pg_terminate_backend on every connection the app opened; returns how many."""
        rows = self.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        )
        return sum(1 for (terminated,) in rows if terminated)

    def app_connection_count(self, application_name: str = "chatapp") -> int:
        return self.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application_name,))[0][0]

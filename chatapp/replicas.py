"""Read replicas: which one serves a read, how far each has replayed, which are in rotation.

`ReplicaSet` belongs to one primary engine (`attach`) and lives in each process. The store asks
it for a replica per read (`choose`), round-robin over the replicas in rotation; a read that
must see a position (the user's own write) gets a replica that has replayed past it, waiting up
to DB_REPLICA_WAIT_MS for one, else none: the primary serves it. What each replica has replayed
is cached: a small background thread probes every replica once a second while the process
serves reads (`SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()`), and a read waiting for
a position refreshes its replica's entry at most every few milliseconds, one query shared by
all the threads waiting on it.

A replica leaves the rotation when it cannot be reached, is not in recovery, or lags more than
DB_REPLICA_MAX_LAG_SECONDS, with one warning; the probe puts it back when it is healthy again.
Lag is measured against the primary's WAL positions sampled over time (by the probe and after
every write): a replica that has replayed a position the primary had at time t holds every
commit acknowledged before t, so its lag is at most now - t, however idle the primary is.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .positions import PINNED, WritePositions, format_lsn, parse_lsn

log = logging.getLogger("chatapp")

READ_ENGINE = "chatapp.read_engine"  # session.info: the replica engine the current read runs on
PROBE_SECONDS = 1.0
REFRESH_SECONDS = 0.003  # a waiting read re-reads its replica's position at most this often
IDLE_SECONDS = 60.0  # the probe sleeps after this long without a read (Neon computes may suspend)

PRIMARY_POSITION = "SELECT pg_current_wal_lsn()::text"
REPLAY_POSITION = "SELECT pg_last_wal_replay_lsn()::text"
REPLICA_STATE = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text"


class ReplicaRoutingSession:
    """Session mixin: while the store runs a read on a replica (session.info[READ_ENGINE]),
    every statement of the session goes there."""

    info: dict

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any) -> Any:
        if bind is None:
            engine = self.info.get(READ_ENGINE)
            if engine is not None:
                return engine
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)  # type: ignore[misc]


def query_one(engine: Engine, statement: str) -> tuple:
    """One row of `statement` on a pooled connection in autocommit mode: one round trip."""
    connection = engine.raw_connection()
    try:
        connection.dbapi_connection.autocommit = True
        cursor = connection.cursor()
        try:
            cursor.execute(statement)
            return cursor.fetchone()
        finally:
            cursor.close()
    except BaseException:
        connection.invalidate()
        raise
    finally:
        connection.close()


def first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def is_connection_failure(error: BaseException) -> bool:
    """A replica that cannot serve at all (refused, gone, restarting), rather than one statement
    that failed there (a recovery conflict, a canceled query, a full pool)."""
    if getattr(error, "connection_invalidated", False):
        return True
    orig = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's errors
    if not isinstance(orig, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        return False
    code = orig.pgcode
    return code is None or code.startswith(("08", "57P"))


class Replica:
    """One replica: its engine, what it has replayed (as last seen), and whether it is in rotation."""

    def __init__(self, number: int, url: str, engine: Engine):
        self.number = number
        self.url = url  # password masked
        self.engine = engine
        self.replay: int | None = None
        self.seen_at = 0.0
        self.lag: float | None = None
        self.in_rotation = True
        self.problem: str | None = None
        self._refresh = threading.Condition()
        self._refreshing = False

    @property
    def name(self) -> str:
        return f"read replica {self.number} ({self.url})"

    def observe(self, replay: int | None, at: float) -> None:
        # Not max(): a restarted replica may reopen behind what it had replayed before.
        if at >= self.seen_at:
            self.replay, self.seen_at = replay, at

    def covers(self, position: int) -> bool:
        replay = self.replay
        return replay is not None and replay >= position


class ReplicaSet:
    """The read replicas of one primary, their state and pools, for one process."""

    def __init__(
        self,
        primary: Engine,
        replicas: list[tuple[str, Engine]],
        *,
        wait_ms: int = 50,
        max_lag_seconds: float = 5.0,
        probe_seconds: float = PROBE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.primary = primary
        self.replicas = [Replica(number, url, engine) for number, (url, engine) in enumerate(replicas, 1)]
        self.wait_seconds = wait_ms / 1000
        self.max_lag_seconds = max_lag_seconds
        self.probe_seconds = probe_seconds
        self.clock = clock
        self.positions = WritePositions(clock=clock)
        # (monotonic time, primary WAL position): the primary was at least there by then.
        self._samples: deque[tuple[float, int]] = deque(maxlen=10_000)
        self._turn = itertools.count()
        self._reset_process_state()
        _LIVE.add(self)

    def _reset_process_state(self) -> None:
        """What does not survive a fork: the probe thread, its events, and locks another thread
        of the parent may have held."""
        self._samples_lock = threading.Lock()
        self._rotation_lock = threading.Lock()
        self.positions._lock = threading.Lock()
        for replica in self.replicas:
            replica._refresh, replica._refreshing = threading.Condition(), False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_read = self.clock()

    # -- routing -----------------------------------------------------------------------------

    def choose(self, position: int | None, preferred: Replica | None = None) -> Replica | None:
        """A replica in rotation for a read that must see `position` (None: any), or None for
        the primary. `preferred` (the replica the session read from before) wins when it qualifies."""
        self._note_read()
        live = [replica for replica in self.replicas if replica.in_rotation]
        if not live or (position is not None and position >= PINNED):
            return None
        if preferred is not None and preferred.in_rotation and (position is None or preferred.covers(position)):
            return preferred
        start = next(self._turn) % len(live)
        ordered = live[start:] + live[:start]
        if position is None:
            return ordered[0]
        for replica in ordered:
            if replica.covers(position):
                return replica
        if self.wait_seconds <= 0:
            return None
        deadline = self.clock() + self.wait_seconds
        while True:
            for replica in ordered:
                if replica.in_rotation and self._refreshed(replica) and replica.covers(position):
                    return replica
            remaining = deadline - self.clock()
            if remaining <= 0:
                return None
            time.sleep(min(REFRESH_SECONDS, remaining))

    def _refreshed(self, replica: Replica) -> bool:
        """Re-read the replica's replay position unless it was read in the last few ms (one query
        for all the threads waiting on it); False when the replica failed."""
        with replica._refresh:
            if self.clock() - replica.seen_at < REFRESH_SECONDS:
                return True
            if replica._refreshing:
                replica._refresh.wait(timeout=1.0)
                return replica.in_rotation
            replica._refreshing = True
        try:
            at = self.clock()
            (replay,) = query_one(replica.engine, REPLAY_POSITION)
            replica.observe(parse_lsn(replay) if replay else None, at)
            return True
        except (sa.exc.SQLAlchemyError, replica.engine.dialect.loaded_dbapi.Error) as error:
            self.failed(replica, error)
            return False
        finally:
            with replica._refresh:
                replica._refreshing = False
                replica._refresh.notify_all()

    def failed(self, replica: Replica, error: BaseException) -> None:
        """A read on `replica` failed (the primary serves it): a connection failure takes the
        replica out of rotation until the probe finds it healthy."""
        if is_connection_failure(error):
            self._out(replica, f"unreachable ({first_line(error)})", forget_replay=True)
        else:
            log.info("a read on %s failed (%s); the primary served it", replica.name, first_line(error))

    # -- positions ---------------------------------------------------------------------------

    def remember_write(self, user_id: str, position: int, at: float) -> None:
        """The user's write is committed at or before `position`, read from the primary at `at`."""
        self.positions.remember(user_id, position)
        self.sample(position, at)

    def sample(self, position: int, at: float) -> None:
        """The primary's WAL position was at least `position` at monotonic time `at`."""
        with self._samples_lock:
            samples = self._samples
            if samples and samples[-1][1] >= position:
                if samples[-1][1] == position and samples[-1][0] < at:
                    samples[-1] = (at, position)  # the same position, known later: a tighter bound
                return
            samples.append((at, position))
            window = self.max_lag_seconds + 3 * self.probe_seconds
            while len(samples) > 1 and samples[0][0] < at - window:
                samples.popleft()

    def lag_of(self, replay: int, at: float) -> float | None:
        """How stale a replica at `replay` can be at `at`: at most `at` minus the time of the
        latest sample it has replayed; past every sample, at least `at` minus the oldest one."""
        with self._samples_lock:
            samples = list(self._samples)
        if not samples:
            return None
        for sampled_at, position in reversed(samples):
            if position <= replay:
                return max(0.0, at - sampled_at)
        return max(0.0, at - samples[0][0])

    # -- health ------------------------------------------------------------------------------

    def probe(self) -> None:
        """Sample the primary's position, then check every replica: reachable, in recovery,
        replayed how far, lagging how much; move them in or out of rotation."""
        at = self.clock()
        try:
            (position,) = query_one(self.primary, PRIMARY_POSITION)
            self.sample(parse_lsn(position), at)  # type: ignore[arg-type]
        except (sa.exc.SQLAlchemyError, self.primary.dialect.loaded_dbapi.Error) as error:
            log.debug("could not sample the primary's WAL position: %s", first_line(error))
        for replica in self.replicas:
            self._probe(replica)
        replays = [replica.replay for replica in self.replicas]
        if all(replay is not None for replay in replays):
            self.positions.forget_replayed(min(replays))  # type: ignore[type-var]

    def _probe(self, replica: Replica) -> None:
        at = self.clock()
        try:
            in_recovery, replay = query_one(replica.engine, REPLICA_STATE)
        except (sa.exc.SQLAlchemyError, replica.engine.dialect.loaded_dbapi.Error) as error:
            self._out(replica, f"unreachable ({first_line(error)})", forget_replay=True)
            return
        if not in_recovery or not replay:
            self._out(replica, "not a replica: pg_is_in_recovery() is false", forget_replay=True)
            return
        position = parse_lsn(replay)
        replica.observe(position, at)
        replica.lag = self.lag_of(position, at)  # type: ignore[arg-type]
        if replica.lag is not None and replica.lag > self.max_lag_seconds:
            self._out(replica, f"lagging {replica.lag:.1f} s behind the primary (limit DB_REPLICA_MAX_LAG_SECONDS={self.max_lag_seconds:g})")
        elif not replica.in_rotation:
            with self._rotation_lock:
                replica.in_rotation, replica.problem = True, None
            log.info("%s is back in rotation (replayed %s)", replica.name, replay)

    def _out(self, replica: Replica, problem: str, forget_replay: bool = False) -> None:
        with self._rotation_lock:  # one warning per outage, however many threads notice it
            was_down = not replica.in_rotation and replica.replay is None
            replica.problem = problem
            leaving, replica.in_rotation = replica.in_rotation, False
        if forget_replay:  # unreachable or not a replica: what it had replayed means nothing now
            replica.observe(None, self.clock())
        if forget_replay and not was_down:
            replica.engine.dispose()  # its pooled connections are dead: fresh ones when it is back
        if leaving:
            log.warning("%s is out of rotation: %s; its reads go to the primary until it is healthy again", replica.name, problem)

    # -- the probe thread --------------------------------------------------------------------

    def _note_read(self) -> None:
        self._last_read = self.clock()
        if self._thread is None:
            self._start()
        elif not self._wake.is_set():
            self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run_probe, name="chatapp-replica-probe", daemon=True)
                self._thread.start()

    def _run_probe(self) -> None:
        while not self._stop.wait(self.probe_seconds):
            if self.clock() - self._last_read > IDLE_SECONDS:
                self._wake.clear()
                if self.clock() - self._last_read > IDLE_SECONDS:
                    self._wake.wait()  # the next read wakes the probe
                continue
            try:
                self.probe()
            except Exception:  # the probe must outlive any surprise; the next round tries again
                log.exception("probing the read replicas failed")

    def close(self) -> None:
        """Stop the probe, close every replica connection and detach from the primary (tests, shutdown)."""
        if _SETS.get(self.primary) is self:
            del _SETS[self.primary]
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for replica in self.replicas:
            replica.engine.dispose()

    def describe(self) -> list[dict[str, Any]]:
        """Each replica's state as this process sees it (for logs and tests)."""
        return [
            {
                "replica": replica.name,
                "in_rotation": replica.in_rotation,
                "replayed": format_lsn(replica.replay) if replica.replay is not None else None,
                "lag_seconds": replica.lag,
                "problem": replica.problem,
            }
            for replica in self.replicas
        ]


_SETS: weakref.WeakKeyDictionary[Engine, ReplicaSet] = weakref.WeakKeyDictionary()
_LIVE: weakref.WeakSet[ReplicaSet] = weakref.WeakSet()


def attach(primary: Engine, replicas: ReplicaSet) -> None:
    """Reads through sessions bound to `primary` may use `replicas` from now on."""
    _SETS[primary] = replicas


def replica_set_of(primary: Engine) -> ReplicaSet | None:
    return _SETS.get(primary)


def any_attached() -> bool:
    """Whether any engine of this process has read replicas (when none has, nothing is routed)."""
    return bool(_SETS)


def _after_fork_in_child() -> None:
    # A forked worker (gunicorn --preload) has no probe thread, and must not share the parent's
    # pooled replica connections: drop them without closing the parent's sockets.
    for replicas in list(_LIVE):
        replicas._reset_process_state()
        for replica in replicas.replicas:
            replica.engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)

"""Commit positions (PostgreSQL WAL LSNs) for read-your-writes: parsing, the per-request carried one, and each process's memory of users' last writes.

A position is an LSN read from the primary after a write committed (`pg_current_wal_lsn()`),
so it lies at or past the end of that write's commit record; a replica whose replay position
(`pg_last_wal_replay_lsn()`) is at or past it shows the write. See docs/ARCHITECTURE.md,
"Read replicas and read-your-writes".
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LSN_PATTERN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
# A pinned user reads from the primary: no replica is ever this far.
PINNED = 2**64


def parse_lsn(text: str) -> int | None:
    """The LSN `text` ("16/B374D848") as a number, or None when it is not one."""
    match = LSN_PATTERN.fullmatch(text or "")  # `$` alone would let a final newline through
    if match is None:
        return None
    return (int(match[1], 16) << 32) | int(match[2], 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def later(*positions: int | None) -> int | None:
    """The latest of the positions given, or None when there is none."""
    known = [position for position in positions if position is not None]
    return max(known) if known else None


# The position the current request carried (X-Chatapp-Consistency, or the browser session):
# set by chatapp.consistency for the request's duration; the store's reads honour it.
_carried: contextvars.ContextVar[int | None] = contextvars.ContextVar("chatapp_carried_position", default=None)


def carried_position() -> int | None:
    return _carried.get()


def carry(position: int | None) -> contextvars.Token:
    """From now on (in this context) reads must see at least `position`; undo with `uncarry`."""
    return _carried.set(position)


def uncarry(token: contextvars.Token) -> None:
    _carried.reset(token)


@contextmanager
def carrying(position: int | None) -> Iterator[None]:
    """Reads inside must see at least `position`."""
    token = carry(position)
    try:
        yield
    finally:
        uncarry(token)


class WritePositions:
    """user id -> the position of that user's last write through this process, thread-safe.

    Bounded: entries every replica has replayed are dropped by `forget_replayed`, and past
    `limit` entries the least recently written go first. A user whose position could not be
    read after a write is pinned to the primary for `pin_seconds`.
    """

    def __init__(self, limit: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.clock = clock
        self._positions: OrderedDict[str, int] = OrderedDict()
        self._pins: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, user_id: str | None) -> int | None:
        if user_id is None:
            return None
        if self._pins:
            until = self._pins.get(user_id)
            if until is not None:
                if self.clock() < until:
                    return PINNED
                with self._lock:
                    self._pins.pop(user_id, None)
        return self._positions.get(user_id)

    def remember(self, user_id: str, position: int) -> None:
        with self._lock:
            current = self._positions.pop(user_id, None)
            self._positions[user_id] = position if current is None else max(current, position)
            while len(self._positions) > self.limit:
                self._positions.popitem(last=False)

    def pin(self, user_id: str, seconds: float) -> None:
        with self._lock:
            self._pins[user_id] = self.clock() + seconds

    def forget_replayed(self, replayed: int) -> int:
        """Drop the positions at or before `replayed` (what every replica has replayed); how many."""
        with self._lock:
            stale = [user for user, position in self._positions.items() if position <= replayed]
            for user in stale:
                del self._positions[user]
            return len(stale)

    def __len__(self) -> int:
        return len(self._positions)

"""The peer, side by side: langchain-postgres's PostgresChatMessageHistory against chatapp's ChatStore.

Store level, no HTTP, one sequential client, in the same run and database:
- append one message: `ChatStore.add_item` (pooled engine, session removed after each call, as
  in a request) against `PostgresChatMessageHistory.add_message` (one psycopg 3 connection,
  as langchain-postgres's docs set it up; it commits each call);
- langchain's reads use a second connection, in autocommit mode. On the documented single
  connection a read leaves its transaction open until the next append commits; an open
  transaction holds back the cleanup of old row versions for every writer on the server, so
  chatapp's appends, which update their thread's row, slowed by about 30 % whenever they ran
  after a langchain read (measured on this host). Each store is measured on its own cost here;
  the read is one round trip either way;
- read the newest 50 of a 1,000- and a 10,000-message history: `ChatStore.list_items(limit=50,
  order="desc")` against `history.messages[-50:]` (langchain-postgres cannot page: it reads
  every message of the session, then the caller keeps the last 50).
Both stores and all figures take turns of about 0.1 s within each round (common.interleaved_ops_per_second),
so the shared machine's swings in speed hit them alike. Both on loopback and through the link
proxy (tests/support/pgproxy.py, its own proxy per store), plus
the round trips each makes per append and per read, counted by the proxy after a warm-up.

Data: langchain's table comes from its own `create_tables`, its sessions are filled through
`add_messages`; chatapp's 1,000-item thread is the seed's read target (written through
ChatStore) and its 10,000-item thread is bulk-filled like the 100,000-item one (seeding only).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from bench.common import (
    DATABASE_URL,
    PgProxy,
    chatapp_app,
    interleaved_ops_per_second,
    libpq_dsn,
    link_proxy,
    url_through,
)
from bench.seed import Seeded, message_text
from bench.seed_bulk import bulk_fill_thread

TABLE = "langchain_chat_history"
SIZES = (1_000, 10_000)
PAGE = 50
STORES = ("chatapp", "langchain")
PACKAGES = ("langchain-postgres", "langchain-core", "psycopg", "psycopg-binary")


def available() -> str | None:
    """None when langchain-postgres can be imported, else why not (the section is then skipped)."""
    try:
        import langchain_postgres  # noqa: F401
    except ImportError as error:
        return f"langchain-postgres is not installed ({error}); `make install-dev` installs it"
    return None


@dataclass
class PeerData:
    user_id: str
    threads: dict[int, str]  # history size -> chatapp thread id
    sessions: dict[int, str]  # history size -> langchain session id
    append_thread: str
    append_session: str
    seconds: float


def _message(n: int):
    from langchain_core.messages import AIMessage, HumanMessage

    return (HumanMessage if n % 2 else AIMessage)(content=message_text(n))


def seed(seeded: Seeded) -> PeerData:
    import psycopg
    from langchain_postgres import PostgresChatMessageHistory

    from chatapp.extensions import db
    from chatapp.store import ChatStore

    started = time.perf_counter()
    app = chatapp_app()
    with app.app_context():
        store = ChatStore(db.session)
        big_thread = store.create_thread(seeded.user_id, title="10,000 items").id
        append_thread = store.create_thread(seeded.user_id, title="peer append target").id
        db.session.remove()
        db.engine.dispose()
    bulk_fill_thread(big_thread, SIZES[1], message_text)
    threads = {SIZES[0]: seeded.read_thread, SIZES[1]: big_thread}

    sessions = {size: str(uuid.uuid4()) for size in SIZES}
    with closing(psycopg.connect(libpq_dsn())) as conn:
        PostgresChatMessageHistory.create_tables(conn, TABLE)
        for size, session_id in sessions.items():
            history = PostgresChatMessageHistory(TABLE, session_id, sync_connection=conn)
            for start in range(1, size + 1, 1_000):
                history.add_messages([_message(n) for n in range(start, min(start + 1_000, size + 1))])
        conn.autocommit = True
        conn.execute(f"VACUUM ANALYZE {TABLE}")
    return PeerData(
        user_id=seeded.user_id,
        threads=threads,
        sessions=sessions,
        append_thread=append_thread,
        append_session=str(uuid.uuid4()),
        seconds=time.perf_counter() - started,
    )


def _operations(data: PeerData, conn, read_conn, counter: list[int]) -> dict[str, dict[str, Callable[[], object]]]:
    """figure -> store -> operation, inside the chatapp app's context."""
    from langchain_core.messages import HumanMessage
    from langchain_postgres import PostgresChatMessageHistory

    from chatapp.extensions import db
    from chatapp.store import ChatStore

    def history(session_id: str, connection=conn) -> PostgresChatMessageHistory:
        return PostgresChatMessageHistory(TABLE, session_id, sync_connection=connection)

    def chatapp_append() -> None:
        counter[0] += 1
        ChatStore(db.session).add_item(
            data.user_id, data.append_thread, role="user", content=message_text(counter[0])
        )
        db.session.remove()

    appender = history(data.append_session)

    def langchain_append() -> None:
        counter[0] += 1
        appender.add_message(HumanMessage(content=message_text(counter[0])))

    def chatapp_read(thread_id: str):
        def read() -> list:
            page = ChatStore(db.session).list_items(data.user_id, thread_id, limit=PAGE, order="desc")
            db.session.remove()
            return page.data

        return read

    def langchain_read(session_id: str):
        reader = history(session_id, read_conn)

        def read() -> list:
            return reader.messages[-PAGE:]

        return read

    operations = {"append": {"chatapp": chatapp_append, "langchain": langchain_append}}
    for size in SIZES:
        operations[f"read_{size}"] = {
            "chatapp": chatapp_read(data.threads[size]),
            "langchain": langchain_read(data.sessions[size]),
        }
    return operations


def _check(operations: dict) -> None:
    for size in SIZES:
        for store in STORES:
            got = len(operations[f"read_{size}"][store]())
            if got != PAGE:
                raise RuntimeError(f"{store}: the newest {PAGE} of {size:,} returned {got} items")


def _measure(
    data: PeerData,
    urls: dict[str, str],
    seconds: float,
    rounds: int,
    counter: list[int],
    proxies: dict[str, PgProxy] | None = None,
    count: int = 0,
) -> tuple[dict, dict]:
    """ops/s of every figure, both stores interleaved; with proxies, also round trips per call."""
    import psycopg

    from chatapp.extensions import db

    app = chatapp_app(DATABASE_URL=urls["chatapp"])
    dsn = libpq_dsn(urls["langchain"])
    with app.app_context(), closing(psycopg.connect(dsn)) as conn, closing(psycopg.connect(dsn, autocommit=True)) as reads:
        operations = _operations(data, conn, reads, counter)
        _check(operations)
        flat = {(figure, store): op for figure, by_store in operations.items() for store, op in by_store.items()}
        samples = interleaved_ops_per_second(flat, seconds, rounds, warmup=5)
        figures = {figure: {} for figure in operations}
        for (figure, store), sample in samples.items():
            figures[figure][store] = sample.as_dict()
        round_trips: dict[str, dict] = {}
        if proxies:
            for store in STORES:
                round_trips[store] = {}
                for figure in ("append", f"read_{SIZES[0]}"):
                    operation, proxy = operations[figure][store], proxies[store]
                    for _ in range(5):  # the same call first, so caches are warm
                        operation()
                    before, connections = proxy.round_trips, proxy.connections
                    for _ in range(count):
                        operation()
                    round_trips[store][figure] = {
                        "calls": count,
                        "per_call": (proxy.round_trips - before) / count,
                        "new_connections": proxy.connections - connections,
                    }
        db.engine.dispose()
    return figures, round_trips


def run(seeded: Seeded, delay_ms: float = 1.0, seconds: float = 1.5, rounds: int = 3, count: int = 50) -> dict:
    reason = available()
    if reason:
        print(f"  SKIPPED: {reason}", flush=True)
        return {"skipped": reason}
    data = seed(seeded)
    counter = [0]
    results: dict = {
        "table": TABLE,
        "sizes": list(SIZES),
        "page": PAGE,
        "delay_ms": delay_ms,
        "seed_seconds": data.seconds,
        "versions": _versions(),
    }
    loopback = {store: DATABASE_URL for store in STORES}
    results["loopback"], _ = _measure(data, loopback, seconds, rounds, counter)
    _print("loopback", results["loopback"])
    with link_proxy(delay_ms) as chatapp_proxy, link_proxy(delay_ms) as langchain_proxy:
        proxies = {"chatapp": chatapp_proxy, "langchain": langchain_proxy}
        link = {store: url_through(proxies[store]) for store in STORES}
        results["link"], results["round_trips"] = _measure(data, link, seconds, rounds, counter, proxies, count)
    _print("link", results["link"])
    for store, figures in results["round_trips"].items():
        print(f"  round trips per call, {store}: " + ", ".join(f"{f} {v['per_call']:g}" for f, v in figures.items()))
    return results


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def _print(mode: str, figures: dict) -> None:
    for figure, by_store in figures.items():
        c, lc = by_store["chatapp"]["median"], by_store["langchain"]["median"]
        print(
            f"  {mode:8} {figure:10} chatapp {c:8.1f} ops/s  langchain {lc:8.1f} ops/s  ratio {c / lc:.2f}x", flush=True
        )

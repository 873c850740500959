"""Search latency (issue #15): 200,000 messages in 1,000 threads of one user, plus other users' noise.

Messages are 8-40 words drawn from a Zipf-distributed vocabulary (pseudo-words, English, Hinglish
and Hindi), with planted words of known frequency: `zanzibar` in 1% of messages (the one-word
query), the phrase `monsoon trek` in 0.5% (with `monsoon` and `trek` each alone in 1% more, so
the phrase needs its positions checked), and `accha` in 20% (a common word, reported apart).
Other users hold half as many messages again, with the same mix: their hits must show nothing.

Seeding only (COPY, like bench/seed_bulk.py): rows go straight into the tables; the search
column and index are computed by PostgreSQL as for any write. Latencies are ChatStore.search
(the API's one statement), each call ending like a request (session removed).

    .venv/bin/python -m bench.search_bench [--quick]    # its own database, created and dropped
"""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta

import psycopg2

from bench.common import chatapp_app, libpq_dsn

HINDI = "नमस्ते दुनिया मौसम बारिश यात्रा समझाओ धन्यवाद सवाल जवाब रेलगाड़ी".split()
HINGLISH = "kya hai nahi bahut kal aaj yaar bhai thoda samjhao batao chalo theek".split()
ENGLISH = "the a to and of in is it you that for on with this be are have not but can".split()
PLANTED = {"zanzibar": 0.01, "monsoon trek": 0.005, "monsoon": 0.01, "trek": 0.01, "accha": 0.20}
QUERIES = {"one word": "zanzibar", "phrase": '"monsoon trek"', "common word (20%)": "accha"}


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    syllables = ["ka", "ri", "mo", "ne", "ta", "shu", "vi", "la", "pra", "dhi", "go", "se", "um", "bel", "tor"]
    made = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size * 2)}
    words = ENGLISH + HINGLISH + HINDI + sorted(made)[: size]
    return [word for word in words if word not in PLANTED]


def message(rng: random.Random, words: list[str], weights: list[float]) -> str:
    chosen = rng.choices(words, weights=weights, k=rng.randint(8, 40))
    for planted, share in PLANTED.items():
        if rng.random() < share:
            chosen.insert(rng.randrange(len(chosen) + 1), planted)
    return " ".join(chosen)


def _copy(cursor, table: str, columns: str, rows: list[tuple]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)


def seed(user_ids: list[str], threads_per_user: list[int], items_per_thread: int) -> dict:
    """Threads and messages for each user (COPY); returns counts and the seeding time."""
    rng = random.Random(15)
    words = vocabulary(rng)
    weights = [1 / (rank + 1) ** 1.07 for rank in range(len(words))]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    messages = 0
    with closing(psycopg2.connect(libpq_dsn())) as conn, conn, conn.cursor() as cursor:
        for user_number, (user_id, thread_count) in enumerate(zip(user_ids, threads_per_user, strict=True)):
            threads, items = [], []
            for thread_number in range(thread_count):
                thread_id = f"thr_search_{user_number:02d}_{thread_number:05d}"
                created = start + timedelta(minutes=thread_number)
                threads.append((thread_id, user_id, f"chat {thread_number}", "{}", created, created, items_per_thread))
                for seq in range(1, items_per_thread + 1):
                    at = created + timedelta(seconds=seq)
                    items.append((
                        thread_id, f"msg_{seq:05d}", seq, "message", "user" if seq % 2 else "assistant",
                        json.dumps(message(rng, words, weights), ensure_ascii=False), "{}", at,
                    ))
            _copy(cursor, "threads", "id, user_id, title, metadata, created_at, updated_at, last_seq", threads)
            for chunk in range(0, len(items), 50_000):
                _copy(cursor, "thread_items", "thread_id, id, seq, type, role, content, metadata, created_at", items[chunk:chunk + 50_000])
            messages += len(items)
    with closing(psycopg2.connect(libpq_dsn())) as conn:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE threads")
            cursor.execute("VACUUM ANALYZE thread_items")
    return {"messages": messages, "seconds": time.perf_counter() - started}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def run(quick: bool = False) -> dict:
    """Seed, then time each query's first page (and the one-word query's second page)."""
    from chatapp.extensions import db
    from chatapp.store import AccountStore, ChatStore

    threads, per_thread, noise_users = (100, 200, 9) if quick else (1000, 200, 9)
    app = chatapp_app()
    with app.app_context():
        accounts = AccountStore(db.session)
        users = [accounts.create_user(f"search{n}@example.com", "bench password 123").id for n in range(1 + noise_users)]
        db.session.remove()
    noise_threads = max(1, threads // 2 // noise_users)  # other users: half as many messages again
    seeded = seed(users, [threads] + [noise_threads] * noise_users, per_thread)
    calls = 100 if quick else 300
    results: dict = {"seed": seeded, "user_messages": threads * per_thread, "calls": calls, "queries": {}}
    with app.app_context():

        def search(q: str, after=None):
            page = ChatStore(db.session).search(users[0], q, limit=20, after=after)
            db.session.remove()
            return page

        cases = {name: (q, None) for name, q in QUERIES.items()}
        cases["one word, page 2"] = (QUERIES["one word"], search(QUERIES["one word"]).after)
        with db.engine.connect() as conn:
            counts = {
                name: conn.exec_driver_sql(
                    "SELECT count(*) FROM thread_items i JOIN threads t ON t.id = i.thread_id "
                    "WHERE t.user_id = %(u)s AND i.search_vector @@ websearch_to_tsquery('chatapp_search', %(q)s)",
                    {"u": users[0], "q": q},
                ).scalar()
                for name, (q, _) in cases.items()
            }
        for name, (q, after) in cases.items():
            for _ in range(10):
                search(q, after)
            timings = []
            for _ in range(calls):
                started = time.perf_counter()
                search(q, after)
                timings.append((time.perf_counter() - started) * 1000)
            results["queries"][name] = {
                "q": q, "matches": counts[name], "p50": statistics.median(timings),
                "p99": percentile(timings, 0.99), "values": timings,
            }
        db.engine.dispose()
    return results


def main() -> None:
    import argparse

    from bench.common import create_database, drop_database
    from bench.run import migrate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    create_database()
    try:
        migrate()
        results = run(quick=args.quick)
    finally:
        drop_database()
    print(f"seeded {results['seed']['messages']:,} messages in {results['seed']['seconds']:.1f} s")
    for name, figure in results["queries"].items():
        print(f"{name:20} {figure['q']!r:18} {figure['matches']:>7,} matches  p50 {figure['p50']:6.2f} ms  p99 {figure['p99']:6.2f} ms")


if __name__ == "__main__":
    main()

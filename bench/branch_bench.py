"""Branch reads against item reads, on a 100-item and a 100,000-item thread (PostgreSQL, in process).

    .venv/bin/python bench/branch_bench.py            # ~1 minute on 2 cores; prints a Markdown table

Not part of `make bench` (nor docs/BENCHMARKS.md): it shows what the tree of items costs. A
newest-first page of the branch walks 51 parent links whatever the thread's size, so it should
stay flat, like the item page; an oldest-first first page and switching to the first version
walk the whole branch, so they grow with it. Uses its own database (BENCH_DATABASE, default
chatapp_bench_branches here, created and dropped) on BENCH_SERVER_URL.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("BENCH_DATABASE", "chatapp_bench_branches")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import chatapp_app, create_database, drop_database, per_call_ms  # noqa: E402
from bench.seed import message_text  # noqa: E402
from bench.seed_bulk import ITEM_ID_FORMAT, bulk_fill_thread  # noqa: E402

SIZES = (100, 100_000)
ROUNDS = 5
PAGE = 50
DEEP_AFTER_SEQ = 60


def main() -> None:
    from flask_migrate import upgrade

    from chatapp.extensions import db
    from chatapp.store import AccountStore, ChatStore

    create_database()
    try:
        app = chatapp_app()
        with app.app_context():
            upgrade()
            user_id = AccountStore(db.session).create_user("bench-branches@example.com", "correct horse battery").id
            threads = {size: ChatStore(db.session).create_thread(user_id, title=f"{size} items").id for size in SIZES}
            db.session.remove()
            db.engine.dispose()
        for size, thread_id in threads.items():
            bulk_fill_thread(thread_id, size, message_text)

        operations: dict[tuple[str, int], tuple[object, int]] = {}
        with app.app_context():
            for size, thread_id in threads.items():
                deep = ITEM_ID_FORMAT.format(DEEP_AFTER_SEQ)
                near_leaf = ITEM_ID_FORMAT.format(size - PAGE)
                first = ITEM_ID_FORMAT.format(1)
                cases = {
                    "items, newest page (`list_items_json`)": (lambda s, t=thread_id: s.list_items_json(user_id, t, limit=PAGE, order="desc"), 100),
                    "items, newest page as records (`list_items`)": (lambda s, t=thread_id: s.list_items(user_id, t, limit=PAGE, order="desc"), 100),
                    "branch, newest page (`list_branch` desc)": (lambda s, t=thread_id: s.list_branch(user_id, t, limit=PAGE, order="desc"), 100),
                    f"branch, page before seq {DEEP_AFTER_SEQ} (desc)": (lambda s, t=thread_id, a=deep: s.list_branch(user_id, t, limit=PAGE, order="desc", after=a), 100),
                    "branch, last page oldest first (asc, after the 50th from the leaf)": (lambda s, t=thread_id, a=near_leaf: s.list_branch(user_id, t, limit=PAGE, after=a), 100),
                    "the context: 50 ancestors of the leaf (`iter_ancestors`)": (lambda s, t=thread_id: list(itertools.islice(s.iter_ancestors(user_id, t, page_size=PAGE), PAGE)), 100),
                    "branch, first page oldest first (asc: walks the whole branch)": (lambda s, t=thread_id: s.list_branch(user_id, t, limit=PAGE), 3),
                    "switch to the first item's branch (`select_branch`: walks its subtree)": (lambda s, t=thread_id, i=first: s.select_branch(user_id, t, i), 3),
                }
                for name, case in cases.items():
                    operations[name, size] = case
            samples: dict[tuple[str, int], list[float]] = {key: [] for key in operations}
            for _ in range(ROUNDS):  # interleaved: a shift in the machine's load hits every case alike
                for key, (call, calls) in operations.items():

                    def operation(call=call):
                        call(ChatStore(db.session))
                        db.session.remove()

                    samples[key] += per_call_ms(operation, calls, rounds=1, warmup=2).values
            db.engine.dispose()
    finally:
        drop_database()
    print(f"| read | {SIZES[0]:,} items, ms/call | {SIZES[1]:,} items, ms/call |")
    print("|---|---|---|")
    for name in dict.fromkeys(name for name, _ in samples):
        cells = [f"{statistics.median(samples[name, size]):.2f} (min {min(samples[name, size]):.2f})" for size in SIZES]
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()

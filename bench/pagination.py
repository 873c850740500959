"""Pagination flatness: the newest page and a deep page, on a 100,000-item thread and a 100-item one.

Both go through ChatStore.list_items_json, the API's read path (keyset on seq, newest first).
The deep page is the one after the item with seq 60: the oldest end of the big thread's
history. Flat means the big thread costs no more than the small one.
"""

from __future__ import annotations

import json
import statistics

from bench.common import chatapp_app, per_call_ms
from bench.seed import Seeded


def run(seeded: Seeded, calls: int = 300, rounds: int = 5) -> dict:
    from chatapp.extensions import db
    from chatapp.store import ChatStore

    app = chatapp_app()
    results: dict[str, dict] = {}
    cases = {
        "small_newest": (seeded.small_thread, None),
        "big_newest": (seeded.big_thread, None),
        "small_deep": (seeded.small_thread, seeded.small_deep_after),
        "big_deep": (seeded.big_thread, seeded.big_deep_after),
    }
    with app.app_context():
        pages = {}
        for name, (thread, after) in cases.items():

            def page(thread=thread, after=after):
                result = ChatStore(db.session).list_items_json(
                    seeded.user_id, thread, limit=50, after=after, order="desc"
                )
                db.session.remove()
                return result

            first = page()
            if len(json.loads(first)["data"]) != 50:  # after seq 60, newest first: seq 59..10
                raise RuntimeError(f"{name}: expected 50 items, got {first[:200]!r}")
            pages[name] = page
        # Rounds interleave the four cases, so a shift in the machine's load hits them alike.
        for _ in range(rounds):
            for name, page in pages.items():
                sample = per_call_ms(page, calls, rounds=1)
                results.setdefault(name, {"unit": sample.unit, "values": []})["values"] += sample.values
        for sample in results.values():
            values = sample["values"]
            sample.update(median=statistics.median(values), min=min(values), max=max(values))
        db.engine.dispose()
    return results

"""Pagination flatness: the newest page and a deep page, on a 100,000-item thread and a 100-item one.

Both go through ChatStore.list_items (keyset on seq, newest first). The deep page is the one
after the item with seq 60: the oldest end of the big thread's history. Flat means the big
thread costs no more than the small one.
"""

from __future__ import annotations

from bench.common import chatapp_app, per_call_ms
from bench.seed import Seeded


def run(seeded: Seeded, calls: int = 300, rounds: int = 3) -> dict:
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
        for name, (thread, after) in cases.items():

            def page(thread=thread, after=after):
                result = ChatStore(db.session).list_items(
                    seeded.user_id, thread, limit=50, after=after, order="desc"
                )
                db.session.remove()
                return result

            first = page()
            if len(first.data) != 50:  # after seq 60, newest first: seq 59..10
                raise RuntimeError(f"{name}: expected 50 items, got {len(first.data)}")
            results[name] = per_call_ms(page, calls, rounds).as_dict()
        db.engine.dispose()
    return results

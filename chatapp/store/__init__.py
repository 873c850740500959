"""The store: the one data layer. The UI, the JSON API, the CLI and the ChatKit adapter all call it.

`ChatStore` (threads, items, attachments) and `AccountStore` (users, API tokens) take the
session from outside and the acting user's id on every call; another user's thread, item or
attachment behaves exactly like a missing one. Lists are keyset pages, never OFFSET. A call
outside a unit of work is complete when it returns; `with store.transaction():` groups calls
(see transactions.py). Methods return plain records (records.py), never ORM objects. A thread's
items form a tree, and the thread shows one branch of it (branches.py).
"""

from __future__ import annotations

from ..ids import new_item_id, new_thread_id
from .accounts import AccountStore, TokenRecord, UserRecord
from .attachments import AttachmentStore
from .branches import BranchStore
from .imports import FOLLOWS_PREVIOUS, AppendSummary, ImportStore, NewItem
from .records import UNSET, AttachmentRecord, BranchItemRecord, ItemRecord, Page, SearchHitRecord, ThreadRecord
from .search import SearchStore
from .threads import ThreadStore
from .transactions import transaction


class ChatStore(ThreadStore, BranchStore, AttachmentStore, SearchStore, ImportStore):
    """Threads, items (with their branches and versions) and attachments of one database, for any
    acting user: read, written, searched and imported."""

    new_thread_id = staticmethod(new_thread_id)
    new_item_id = staticmethod(new_item_id)


__all__ = [
    "UNSET",
    "AccountStore",
    "FOLLOWS_PREVIOUS",
    "AppendSummary",
    "AttachmentRecord",
    "BranchItemRecord",
    "ChatStore",
    "ItemRecord",
    "NewItem",
    "Page",
    "SearchHitRecord",
    "ThreadRecord",
    "TokenRecord",
    "UserRecord",
    "transaction",
]

"""Branches: a thread's items as a tree, the branch it shows, versions of an item, switching, deletes.

Each item names the item it follows (`parent_id`; None for a first item). An append follows the
thread's leaf unless the caller names another parent, and becomes the leaf (items.py), so a
client that never names a parent builds one straight branch. An edited message or a regenerated
reply is appended with the parent of the item it replaces: a sibling, which this module calls a
*version* of it. The branch a thread shows runs from a first item to the leaf (`threads.leaf_id`).

Seqs grow along every branch (a child is appended after its parent), so a branch sorted by seq is
the branch in order, and keyset pages on seq work as they do for the whole thread. A branch is
read by walking parent links up from its last item, in one recursive statement: a newest-first
page walks `limit + 1` links, whatever the thread's size; an oldest-first page walks from the leaf
down to its cursor (from the leaf to the first item for the first page).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, Literal

import sqlalchemy as sa

from ..errors import InvalidRequest, NotFound
from ..rules import check_limit, check_order
from .items import ItemStore
from .records import BranchItemRecord, ItemRecord, Page, columns_of, items, threads
from .threads import owned_thread
from .transactions import reads

ITEM_FIELDS = ItemRecord.field_names()


def _same_parent(one: Any, other: Any) -> sa.ColumnElement[bool]:
    """Two items follow the same item (both first items, or one parent); each side is index-usable."""
    return sa.or_(one.c.parent_id == other.c.parent_id, sa.and_(one.c.parent_id.is_(None), other.c.parent_id.is_(None)))


def _column_of(thread_id: Any, item_id: Any, column: str) -> sa.ScalarSelect[Any]:
    return sa.select(items.c[column]).where(items.c.thread_id == thread_id, items.c.id == item_id).scalar_subquery()


# Where a walk up the branch starts: the thread's leaf, the parent of the `after` cursor, or an item.
Start = Literal["leaf", "before_after", "item"]


@functools.cache
def _branch(start: Start, *, bounded: bool, above_after: bool, order: str, with_versions: bool) -> sa.Select[Any]:
    """The items from the start up through their parents, ordered by seq. Its parameters:
    `user_id`, `thread_id`, `after` or `item_id` as the start needs, `limit` (the page's size)
    and, when `bounded`, `max_items` (how many links the walk may follow). `above_after` stops
    the walk at the `after` item's seq. Built once per shape, so SQLAlchemy's statement cache
    knows it, and run with its parameters."""
    user_id, thread_id = sa.bindparam("user_id"), sa.bindparam("thread_id")
    owned = sa.select(threads.c.id).where(threads.c.id == thread_id, threads.c.user_id == user_id)
    if start == "leaf":
        begin: Any = sa.select(threads.c.leaf_id).where(threads.c.id == thread_id, threads.c.user_id == user_id).scalar_subquery()
    elif start == "before_after":
        begin = _column_of(thread_id, sa.bindparam("after"), "parent_id")
    else:
        begin = sa.bindparam("item_id")
    floor = _column_of(thread_id, sa.bindparam("after"), "seq") if above_after else None
    first = sa.select(*columns_of(ItemRecord, items), sa.literal(1, sa.Integer).label("depth")).where(
        items.c.thread_id == thread_id, items.c.id == begin, items.c.thread_id.in_(owned)
    )
    if floor is not None:
        first = first.where(items.c.seq > floor)
    path = first.cte("branch", recursive=True)
    parent = items.alias("parent")
    step = sa.select(*columns_of(ItemRecord, parent), (path.c.depth + 1)).where(
        parent.c.thread_id == thread_id, parent.c.id == path.c.parent_id
    )
    if bounded:
        step = step.where(path.c.depth < sa.bindparam("max_items", type_=sa.Integer))
    if floor is not None:
        step = step.where(parent.c.seq > floor)
    path = path.union_all(step)
    columns: list[Any] = [path.c[name] for name in ITEM_FIELDS]
    if with_versions:
        sibling = items.alias("sibling")
        versions = sa.select(sa.func.count()).where(sibling.c.thread_id == thread_id, _same_parent(sibling, path))
        columns += [
            versions.where(sibling.c.seq <= path.c.seq).scalar_subquery().label("version"),
            versions.scalar_subquery().label("versions"),
        ]
    direction = sa.asc if order == "asc" else sa.desc
    return sa.select(*columns).order_by(direction(path.c.seq)).limit(sa.bindparam("limit", type_=sa.Integer))


def _newest_under(thread_id: str, item_id: str | None) -> sa.Select[Any]:
    """The id of the newest item (highest seq) among `item_id` and its descendants; for None,
    the newest item of the thread."""
    if item_id is None:
        return sa.select(items.c.id).where(items.c.thread_id == thread_id).order_by(items.c.seq.desc()).limit(1)
    subtree = (
        sa.select(items.c.id, items.c.seq)
        .where(items.c.thread_id == thread_id, items.c.id == item_id)
        .cte("subtree", recursive=True)
    )
    child = items.alias("child")
    subtree = subtree.union_all(
        sa.select(child.c.id, child.c.seq).where(child.c.thread_id == thread_id, child.c.parent_id == subtree.c.id)
    )
    return sa.select(subtree.c.id).order_by(subtree.c.seq.desc()).limit(1)


class BranchStore(ItemStore):
    """The branch methods of ChatStore (and its tree-keeping delete)."""

    @reads
    def list_branch(
        self,
        user_id: str,
        thread_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        order: str = "desc",
    ) -> Page[BranchItemRecord]:
        """The thread's branch (first item to leaf) with each item's version and number of
        versions; `after` is the last item id of the previous page. One statement a page.

        Newest first (desc) a page walks `limit + 1` parent links, whatever the branch's length;
        oldest first (asc) it walks from the leaf down to its cursor, so long branches are best
        read newest first."""
        check_limit(limit)
        check_order(order)
        params = {"user_id": user_id, "thread_id": thread_id, "after": after, "limit": limit + 1, "max_items": limit + 1}
        if order == "desc":
            start: Start = "leaf" if after is None else "before_after"
            statement = _branch(start, bounded=True, above_after=False, order="desc", with_versions=True)
        else:
            statement = _branch("leaf", bounded=False, above_after=after is not None, order="asc", with_versions=True)
        rows = self._execute(statement, params).all()
        if not rows:
            self._explain_empty_page(user_id, thread_id, after)
        return self._page([BranchItemRecord.from_row(row) for row in rows], limit)

    def iter_ancestors(
        self, user_id: str, thread_id: str, item_id: str | None = None, *, page_size: int = 100
    ) -> Iterator[ItemRecord]:
        """`item_id` (default: the thread's leaf), then its parent, and so on to the first item:
        the conversation that led to it, newest first, one statement per `page_size` items."""
        start: Start = "leaf" if item_id is None else "item"
        params = {"user_id": user_id, "thread_id": thread_id, "item_id": item_id, "limit": page_size + 1, "max_items": page_size + 1}
        first_page = True
        while True:
            statement = _branch(start, bounded=True, above_after=False, order="desc", with_versions=False)
            rows = self._read_rows(statement, params)
            if not rows and first_page:
                self.get_thread(user_id, thread_id)  # type: ignore[attr-defined] - NotFound for a foreign thread
                if item_id is not None:
                    self.get_item(user_id, thread_id, item_id)
            first_page = False
            yield from (ItemRecord.from_row(row) for row in rows[:page_size])
            if len(rows) <= page_size:
                return
            start, params["item_id"] = "item", rows[page_size].id  # the next page starts with the item this one fetched extra

    @reads
    def _read_rows(self, statement: sa.Select[Any], params: dict[str, Any]) -> list[sa.Row]:
        return list(self._execute(statement, params).all())

    @reads
    def get_branch_item(self, user_id: str, thread_id: str, item_id: str) -> BranchItemRecord:
        """One item with its version and number of versions."""
        statement = _branch("item", bounded=True, above_after=False, order="desc", with_versions=True)
        params = {"user_id": user_id, "thread_id": thread_id, "item_id": item_id, "limit": 1, "max_items": 1}
        row = self._execute(statement, params).first()
        if row is None:
            raise NotFound("Item not found.")
        return BranchItemRecord.from_row(row)

    @reads
    def list_versions(
        self, user_id: str, thread_id: str, item_id: str, *, limit: int = 50, after: str | None = None
    ) -> Page[ItemRecord]:
        """The versions of an item (the items sharing its parent, itself included), oldest first."""
        check_limit(limit)
        target = items.alias("target")
        statement = (
            sa.select(*columns_of(ItemRecord, items))
            .join(target, sa.and_(target.c.thread_id == items.c.thread_id, _same_parent(items, target)))
            .join(threads, threads.c.id == items.c.thread_id)
            .where(items.c.thread_id == thread_id, target.c.id == item_id, threads.c.user_id == user_id)
        )
        return self._items_after(statement, user_id, thread_id, item_id, limit=limit, after=after)

    @reads
    def list_children(
        self, user_id: str, thread_id: str, item_id: str, *, limit: int = 50, after: str | None = None
    ) -> Page[ItemRecord]:
        """The items that follow an item directly (a message's replies, say), oldest first."""
        check_limit(limit)
        statement = (
            sa.select(*columns_of(ItemRecord, items))
            .join(threads, threads.c.id == items.c.thread_id)
            .where(items.c.thread_id == thread_id, items.c.parent_id == item_id, threads.c.user_id == user_id)
        )
        return self._items_after(statement, user_id, thread_id, item_id, limit=limit, after=after)

    def _items_after(
        self, statement: sa.Select[Any], user_id: str, thread_id: str, item_id: str, *, limit: int, after: str | None
    ) -> Page[ItemRecord]:
        """A page of `statement`'s items (of the item `item_id`) in seq order, after the item `after`."""
        if after is not None:
            statement = statement.where(items.c.seq > _column_of(thread_id, after, "seq"))
        rows = self._execute(statement.order_by(items.c.seq).limit(limit + 1)).all()
        if not rows:
            self._load_item(user_id, thread_id, item_id)  # NotFound for a missing or foreign item
            self._explain_empty_page(user_id, thread_id, after)
        return self._page([ItemRecord.from_row(row) for row in rows], limit)

    def select_branch(
        self, user_id: str, thread_id: str, item_id: str, *, version: int | None = None
    ) -> BranchItemRecord:
        """Show the branch through an item, or through its `version`-th version: the thread's
        leaf becomes the newest item under it (where that branch was last continued). Returns
        the selected item."""
        with self.transaction(user_id):
            target = items.alias("target")
            versions = self._execute(
                sa.select(items.c.id)
                .join(target, sa.and_(target.c.thread_id == items.c.thread_id, _same_parent(items, target)))
                .join(threads, threads.c.id == items.c.thread_id)
                .where(items.c.thread_id == thread_id, target.c.id == item_id, threads.c.user_id == user_id)
                .order_by(items.c.seq)
            ).scalars().all()
            if not versions:
                raise NotFound("Item not found.")
            if version is not None and not 1 <= version <= len(versions):
                raise InvalidRequest(f"version must be from 1 to {len(versions)}", {"field": "version"})
            selected = item_id if version is None else versions[version - 1]
            leaf = self._execute(_newest_under(thread_id, selected)).scalar()
            self._execute(threads.update().where(owned_thread(user_id, thread_id)).values(leaf_id=leaf))
            return self.get_branch_item(user_id, thread_id, selected)

    def delete_item(self, user_id: str, thread_id: str, item_id: str) -> None:
        """Delete one item. Its children then follow its parent (nothing after it is cut off),
        and when it was the leaf, the leaf becomes the newest item under its parent."""
        with self.transaction(user_id):
            # First a write on the thread row: it takes the lock appends take (PostgreSQL) or the
            # write lock (SQLite), so no append can pick this item as its parent meanwhile.
            leaf = self._execute(
                threads.update()
                .where(owned_thread(user_id, thread_id))
                .values(leaf_id=threads.c.leaf_id)
                .returning(threads.c.leaf_id)
            ).first()
            gone = None
            if leaf is not None:
                gone = self._execute(
                    items.delete()
                    .where(items.c.thread_id == thread_id, items.c.id == item_id)
                    .returning(items.c.parent_id)
                ).first()
            if gone is None:
                raise NotFound("Item not found.")
            self._execute(
                items.update()
                .where(items.c.thread_id == thread_id, items.c.parent_id == item_id)
                .values(parent_id=gone.parent_id)
            )
            if leaf.leaf_id == item_id:
                new_leaf = self._execute(_newest_under(thread_id, gone.parent_id)).scalar()
                self._execute(threads.update().where(threads.c.id == thread_id).values(leaf_id=new_leaf))

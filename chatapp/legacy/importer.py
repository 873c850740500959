"""The legacy import: every thread of every shape found, one unit of work per thread, through the store.

- Owners: a row's user id ("userId", user_id) is an external user, provisioned as the ChatKit
  adapter does (AccountStore.ensure_external_user), so ChatKit sees those threads as its own;
  rows without one belong to the `--owner` account (refused up front when it is missing).
- Ids: legacy ids are kept when chatapp can hold them, else derived from them (values.py); the
  legacy order becomes seq. Running again finds its own threads and compares item ids instead of
  storing them twice, so it imports only rows that appeared since (after the ones imported).
- Bad rows (invalid JSON, NUL bytes, ...) are reported with their ids and skipped; a bad thread
  row skips the thread with its items. Nothing is half-imported: a thread's items and
  attachments land together or not at all.
- Dry run: each thread's unit of work runs and is rolled back, so the counts are the real ones.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Conflict, InvalidRequest
from ..models import utcnow
from ..store import AccountStore, ChatStore, NewItem
from .shapes import LegacyAttachment, LegacyThread
from .source import Found, LegacySource
from .values import BadValue


class OwnerRequired(Exception):
    """Rows without a user id exist, and no --owner was given."""


class _DryRun(Exception):
    """Raised inside a thread's unit of work to roll it back."""


@dataclass
class TableCounts:
    read: int = 0
    imported: int = 0
    present: int = 0  # imported by an earlier run
    skipped: int = 0  # bad rows, and rows of a bad or conflicting thread
    changed: int = 0  # imported earlier, changed in the legacy table since: left as imported


@dataclass
class BadRow:
    table: str
    legacy_id: str
    reason: str


@dataclass
class Report:
    shapes: list[Found] = field(default_factory=list)
    tables: dict[str, TableCounts] = field(default_factory=lambda: defaultdict(TableCounts))
    bad_rows: list[BadRow] = field(default_factory=list)
    changed_rows: list[BadRow] = field(default_factory=list)  # imported before, changed since
    users: set[str] = field(default_factory=set)
    clipped: int = 0

    def bad(self, table: str, legacy_id: Any, reason: str) -> None:
        self.bad_rows.append(BadRow(table, str(legacy_id), reason))
        self.tables[table].skipped += 1


class LegacyImport:
    """Import everything `source` holds into the store; see the module doc."""

    def __init__(
        self,
        store: ChatStore,
        accounts: AccountStore,
        source: LegacySource,
        *,
        owner_id: str | None = None,
        dry_run: bool = False,
        progress: Callable[[int], None] = lambda rows: None,
    ):
        self.store = store
        self.accounts = accounts
        self.source = source
        self.owner_id = owner_id
        self.dry_run = dry_run
        self.progress = progress
        self.report = Report()
        self._users: dict[str, str] = {}
        self._thread_ids: dict[str, str] = {}  # chatapp thread id -> the legacy table that took it

    # -- before importing ------------------------------------------------------------------

    def detect(self) -> list[Found]:
        self.report.shapes = self.source.detect()
        return self.report.shapes

    def rows_without_owner(self) -> list[str]:
        """The tables whose threads have no user id, so only --owner can own them."""
        return [found.threads for found in self.report.shapes if found.shape.owner is None]

    def total_rows(self) -> int:
        return sum(self.source.count(table) for found in self.report.shapes for table in found.tables)

    # -- importing -------------------------------------------------------------------------

    def run(self) -> Report:
        if not self.report.shapes:
            self.detect()
        if self.owner_id is None and self.rows_without_owner():
            raise OwnerRequired(", ".join(self.rows_without_owner()))
        for found in self.report.shapes:
            self._import_shape(found)
        return self.report

    def _import_shape(self, found: Found) -> None:
        shape, limit = found.shape, self.store.max_message_chars
        for table in found.tables:  # the report lists threads, items, attachments in this order
            self.report.tables[table].read += 0
        threads: dict[Any, LegacyThread | None] = {}
        for row in self.source.threads(found):
            self.report.tables[found.threads].read += 1
            try:
                threads[row[shape.thread_key]] = shape.read_thread(row, shape, found.threads)
            except BadValue as exc:
                threads[row[shape.thread_key]] = None
                self.report.bad(found.threads, row.get(shape.thread_key), str(exc))
        self.progress(len(threads))
        attachments: dict[Any, list[LegacyAttachment]] = defaultdict(list)
        for row in self.source.attachments(found):
            self.report.tables[found.attachments].read += 1  # type: ignore[index]
            try:
                attachment = shape.read_attachment(row, found.attachments)  # type: ignore[misc, arg-type]
            except BadValue as exc:
                self.report.bad(found.attachments, row.get("id"), str(exc))  # type: ignore[arg-type]
                continue
            attachments[attachment.thread_key].append(attachment)
        self.progress(sum(len(group) for group in attachments.values()))
        rows = self.source.items(found)
        for key, group in itertools.groupby(rows, key=lambda row: row[shape.item_thread]):
            group_rows = list(group)
            self.report.tables[found.items].read += len(group_rows)
            thread = threads.pop(key, None) if key in threads else False
            if thread is False:
                for row in group_rows:
                    self.report.bad(found.items, row.get("id"), f"its thread {key!r} is not in {found.threads}")
            elif thread is None:
                for row in group_rows:
                    self.report.bad(found.items, row.get("id"), "its thread row is bad (reported above)")
            else:
                items = {}
                for row in group_rows:
                    try:
                        mapped = shape.read_item(row, found.items, limit)
                    except BadValue as exc:
                        self.report.bad(found.items, row.get("id"), str(exc))
                        continue
                    self.report.clipped += mapped.clipped
                    items[str(row["id"])] = mapped.item
                self._import_thread(found, thread, items, attachments.pop(key, []))
            self.progress(len(group_rows))
        for thread in threads.values():  # threads without items
            if thread is not None:
                self._import_thread(found, thread, {}, attachments.pop(thread.key, []))
        for key, group in attachments.items():
            for attachment in group:
                reason = "it belongs to no thread" if key is None else f"its thread {key!r} was not imported"
                self.report.bad(found.attachments, attachment.legacy_id, reason)  # type: ignore[arg-type]

    def _owner(self, thread: LegacyThread) -> str:
        if thread.external_user is None:
            assert self.owner_id is not None
            return self.owner_id
        if self.dry_run:  # provisioned inside the rolled-back unit: never cached
            return self.accounts.ensure_external_user(thread.external_user)
        if thread.external_user not in self._users:
            self._users[thread.external_user] = self.accounts.ensure_external_user(thread.external_user)
        return self._users[thread.external_user]

    def _import_thread(
        self, found: Found, thread: LegacyThread, legacy_items: dict[str, NewItem], attachments: list[LegacyAttachment]
    ) -> None:
        """One thread as one unit of work; `legacy_items` maps legacy ids to items, in order."""
        counts = self.report.tables
        items = list(legacy_items.values())
        taken_by = self._thread_ids.setdefault(thread.thread_id, found.threads)
        if taken_by != found.threads:
            self._skip(found, thread, legacy_items, attachments, f"its id {thread.thread_id} was taken by a row of {taken_by}")
            return
        # A NULL time: the thread's comes from its items, an item's from the one before it.
        created_at = thread.created_at or next((item.created_at for item in items if item.created_at), None)
        created_at = created_at or thread.updated_at or utcnow()
        previous = created_at
        for item in items:
            item.created_at = previous = item.created_at or previous
        updated_at = max([thread.updated_at or created_at] + [item.created_at for item in items])
        # Provisioned (and committed) before the unit, so a unit rolled back leaves the cached id
        # valid; a dry run provisions inside the unit it rolls back.
        owner = None if self.dry_run else self._owner(thread)
        try:
            with self.store.transaction():
                owner = owner or self._owner(thread)
                record, created = self.store.import_thread(
                    owner,
                    thread_id=thread.thread_id,
                    title=thread.title,
                    metadata=thread.metadata,
                    created_at=created_at,
                    updated_at=updated_at,
                )
                summary = self.store.append_items(owner, record.id, items, updated_at=updated_at)
                stored_attachments = [self._attachment(owner, record.id, attachment) for attachment in attachments]
                if self.dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        except (Conflict, InvalidRequest) as exc:
            self._skip(found, thread, legacy_items, attachments, exc.message)
            return
        if thread.external_user is not None:
            self.report.users.add(thread.external_user)
        thread_counts = counts[found.threads]
        if created:
            thread_counts.imported += 1
        else:
            thread_counts.present += 1
        item_counts = counts[found.items]
        item_counts.imported += summary.appended
        item_counts.present += summary.present
        item_counts.changed += len(summary.conflicts)
        legacy_ids = {item.id: legacy_id for legacy_id, item in legacy_items.items()}
        for item_id in summary.conflicts:
            self.report.changed_rows.append(
                BadRow(found.items, legacy_ids[item_id], "changed since it was imported; kept as imported")
            )
        if found.attachments:
            attachment_counts = counts[found.attachments]
            attachment_counts.imported += sum(stored_attachments)
            attachment_counts.present += len(stored_attachments) - sum(stored_attachments)

    def _attachment(self, owner: str, thread_id: str, attachment: LegacyAttachment) -> bool:
        """Store the attachment's metadata (legacy attachments carry no bytes); False if it was there."""
        _, created = self.store.import_attachment(
            owner,
            attachment_id=attachment.attachment_id,
            thread_id=thread_id,
            filename=attachment.filename,
            content_type=attachment.content_type,
            content=b"",
            metadata=attachment.metadata,
            created_at=attachment.created_at or utcnow(),
        )
        return created

    def _skip(
        self,
        found: Found,
        thread: LegacyThread,
        legacy_items: dict[str, NewItem],
        attachments: list[LegacyAttachment],
        reason: str,
    ) -> None:
        self.report.bad(found.threads, thread.legacy_id, reason)
        for legacy_id in legacy_items:
            self.report.bad(found.items, legacy_id, f"its thread {thread.legacy_id} was skipped")
        for attachment in attachments:
            self.report.bad(found.attachments, attachment.legacy_id, f"its thread {thread.legacy_id} was skipped")  # type: ignore[arg-type]


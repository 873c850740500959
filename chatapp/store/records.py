"""The records the store returns, each the one definition of its shape.

A record's fields name the table columns it is read from (`columns_of`), rows become records
by column name (`from_row`), the API serializes records as they are (orjson knows dataclasses)
and documents them from the same types (pydantic reads the annotations). Adding a column
means: the table (models.py), the record here, a migration; nothing else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import sqlalchemy as sa
from pydantic import ConfigDict, Field

from ..models import Attachment, Thread, ThreadItem

threads = Thread.__table__
items = ThreadItem.__table__
attachments = Attachment.__table__

T = TypeVar("T")
R = TypeVar("R", bound="Record")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "not given", for updates where None is a value
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class Record:
    """What every record shares: construction from a row, and its JSON form."""

    __slots__ = ()
    # Fields with defaults are still always present in an answer.
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(json_schema_serialization_defaults_required=True)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        names = _FIELD_NAMES.get(cls)
        if names is None:  # dataclasses.fields() is slow enough to matter once per row
            names = _FIELD_NAMES[cls] = tuple(field.name for field in dataclasses.fields(cls))  # type: ignore[arg-type]
        return names

    @classmethod
    def from_row(cls: type[R], row: sa.Row) -> R:
        """The record of a row selected with `columns_of(cls, table)` (by name, never position)."""
        mapping = row._mapping
        return cls(**{name: mapping[name] for name in cls.field_names()})

    def __post_init__(self) -> None:
        if getattr(self, "metadata", {}) is None:  # a NULL metadata column reads as {}
            object.__setattr__(self, "metadata", {})

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form: datetimes as ISO 8601 (what orjson writes for the record itself)."""
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in ((name, getattr(self, name)) for name in self.field_names())
        }


def columns_of(record: type[Record], table: sa.Table) -> tuple[sa.Column, ...]:
    """The table columns a record is read from: one per field, same name."""
    return tuple(table.c[name] for name in record.field_names())


@dataclass(slots=True)
class ThreadRecord(Record):
    id: str
    title: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    last_seq: Annotated[
        int, Field(ge=0, description="The seq of the newest item ever appended (deletes leave it).")
    ] = 0
    leaf_id: Annotated[
        str | None,
        Field(description="The last item of the branch the thread shows; every append moves it to the new item."),
    ] = None


@dataclass(slots=True)
class ItemRecord(Record):
    id: str
    thread_id: str
    seq: Annotated[int, Field(ge=1, description="The item's place in its thread: ascending, never reused.")]
    type: str
    role: str | None
    content: Annotated[Any, Field(description="A string for messages; any JSON value for other types.")]
    metadata: dict[str, Any]
    created_at: datetime
    parent_id: Annotated[
        str | None,
        Field(description="The item this one follows; null for a first item. Versions of an item share its parent."),
    ] = None


@dataclass(slots=True)
class BranchItemRecord(ItemRecord):
    """An item of a thread's branch, with its place among its versions (the items sharing its parent)."""

    version: Annotated[int, Field(ge=1, description="This item's number among its versions, by seq (1 = the oldest).")] = 1
    versions: Annotated[int, Field(ge=1, description="How many versions there are (1: the item was never edited or regenerated).")] = 1


@dataclass(slots=True)
class AttachmentRecord(Record):
    id: str
    thread_id: str | None
    filename: str
    content_type: str
    size: Annotated[int, Field(ge=0)]
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(slots=True)
class SearchHitRecord(Record):
    """One message (or other item) of the caller's that matches a search."""

    thread_id: str
    item_id: str
    seq: int
    thread_title: str | None
    created_at: datetime
    role: str | None
    type: str
    snippet: Annotated[
        str,
        Field(
            description="Escaped HTML: the matching passage with each matched term in <mark>...</mark>; "
            "no other markup."
        ),
    ]


@dataclass(slots=True)
class Page(Generic[T]):
    """One keyset page: `after` is the cursor for the next page, None on the last."""

    data: list[T]
    has_more: bool
    after: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"data": [record.to_dict() for record in self.data], "has_more": self.has_more, "after": self.after}


THREAD_COLUMNS = columns_of(ThreadRecord, threads)
ITEM_COLUMNS = columns_of(ItemRecord, items)
ATTACHMENT_COLUMNS = columns_of(AttachmentRecord, attachments)

"""How messages and times look in the UI: one item's HTML, and template filters for Markdown, times
and reply problems."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import render_template
from markupsafe import Markup

from ..rules import MAX_ATTACHMENTS_PER_MESSAGE, attachment_ids
from . import bp
from .markdown import render_markdown

# What a failed or cut-short reply says to people; the error's own message goes in a disclosure.
PROBLEMS = {
    "upstream_timeout": "The model server took too long to answer; try again.",
    "upstream_unreachable": "The model server could not be reached; try again.",
    "upstream_error": "The model server answered an error; try again.",
}


Moment = datetime | str | None


def as_datetime(moment: Moment) -> datetime | None:
    """An aware datetime from a record's datetime or a dict's ISO string (streamed items are dicts)."""
    if moment is None or moment == "":
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def relative_time(moment: Moment, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', 'yesterday', 'Mar 3' or 'Mar 3, 2023'."""
    moment = as_datetime(moment)
    if moment is None:
        return ""
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 2 * 86400:
        return "yesterday"
    label = f"{moment:%b} {moment.day}"
    return label if moment.year == now.year else f"{label}, {moment.year}"


def exact_time(moment: Moment) -> str:
    """The full time, for the hover title of a relative one (the page's script shows it in local time)."""
    moment = as_datetime(moment)
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def reply_problem(metadata: dict[str, Any]) -> str:
    """Plain words for an assistant item that failed or stopped short (empty for a complete one)."""
    status = metadata.get("status")
    error = metadata.get("error") or {}
    if status == "incomplete":
        if not error:  # stopped by the reader, or the page went away
            return "This reply is incomplete: it was stopped before it finished."
        return "This reply is incomplete: the model server stopped answering midway; try again."
    if status != "error":
        return ""
    code = error.get("code", "")
    if code == "upstream_error" and str(error.get("message", "")).startswith("Could not reach"):
        code = "upstream_unreachable"
    return PROBLEMS.get(code, "The reply failed; try again.")


def item_html(item: Any, *, attachments: dict[str, Any] | None = None, is_last: bool = False) -> str:
    """One item as the page shows it (templates/_item.html). `item` is a record or its dict; a
    BranchItemRecord's versions show as `< k/n >`; `attachments` are the chips by id
    (ui/attachments.py); the last reply of the branch (`is_last`) offers Regenerate."""
    return render_template("_item.html", item=item, attachments=attachments or {}, is_last=is_last)


@bp.app_template_filter("markdown")
def markdown_filter(text: str) -> Markup:
    return render_markdown(text)


@bp.app_template_filter("ago")
def ago_filter(moment: Moment) -> str:
    return relative_time(moment)


@bp.app_template_filter("exact_time")
def exact_time_filter(moment: Moment) -> str:
    return exact_time(moment)


@bp.app_template_filter("reply_problem")
def reply_problem_filter(metadata: dict[str, Any] | None) -> str:
    return reply_problem(metadata or {})


@bp.app_template_filter("iso")
def iso_filter(moment: Moment) -> str:
    moment = as_datetime(moment)
    return moment.isoformat() if moment else ""


@bp.app_template_filter("attachment_chips")
def attachment_chips_filter(metadata: Any, chips: Any) -> list[Any]:
    """The chips (ui/attachments.py) of the files a message's metadata names, in its order."""
    found = chips if isinstance(chips, dict) else {}
    return [found[attachment_id] for attachment_id in attachment_ids(metadata) if attachment_id in found]


@bp.app_context_processor
def composer_limits() -> dict[str, Any]:
    """Limits the composer's script checks before sending (the server checks them again)."""
    return {"max_attachments": MAX_ATTACHMENTS_PER_MESSAGE}

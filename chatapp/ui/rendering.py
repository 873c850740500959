"""How messages and times look in the UI: safe Markdown for assistant text, relative times."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Optional

from markdown_it import MarkdownIt
from markupsafe import Markup

from . import bp

# Links may point to the web, to mail, or within the page; nothing else (javascript:, data:, ...).
SAFE_SCHEMES = ("http", "https", "mailto")
SCHEME_PATTERN = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)


def is_safe_link(url: str) -> bool:
    """True for http(s)/mailto URLs and for relative ones (no scheme at all)."""
    match = SCHEME_PATTERN.match(url.strip())
    return match is None or match.group(1).lower() in SAFE_SCHEMES


def _build_markdown() -> MarkdownIt:
    # "js-default": CommonMark with tables and strikethrough, and raw HTML off (it is escaped).
    md = MarkdownIt("js-default")
    # Every link is parsed as a link and checked as it is rendered (link_open below): an unsafe
    # target is dropped and its text kept, so no javascript: URL survives even as literal text.
    md.validateLink = lambda url: True
    md.disable("image")  # remote images would track readers; the CSP blocks them anyway

    def link_open(renderer, tokens, index, options, env):  # noqa: ANN001 - markdown-it's rule signature
        token = tokens[index]
        if not is_safe_link(str(token.attrGet("href") or "")):
            token.attrs.pop("href", None)
            token.attrSet("class", "link-removed")
            token.attrSet("title", "Link removed: its address is not http, https or mailto")
        else:
            token.attrSet("rel", "nofollow noopener noreferrer")
        return renderer.renderToken(tokens, index, options, env)

    md.add_render_rule("link_open", link_open)
    return md


_markdown = _build_markdown()


def render_markdown(text: str) -> Markup:
    """Assistant Markdown as HTML that can carry no script, handler or unsafe URL."""
    return Markup(_markdown.render(text or ""))


def relative_time(moment: Optional[datetime], now: Optional[datetime] = None) -> str:
    """'just now', '5 min ago', '3 h ago', 'yesterday', 'Mar 3' or 'Mar 3, 2023'."""
    if moment is None:
        return ""
    now = now or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
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


@bp.app_template_filter("markdown")
def markdown_filter(text: str) -> Markup:
    return render_markdown(text)


@bp.app_template_filter("ago")
def ago_filter(moment: Optional[datetime]) -> str:
    return relative_time(moment)


@bp.app_template_filter("iso")
def iso_filter(moment: Optional[datetime]) -> str:
    return moment.isoformat() if moment else ""

"""Assistant Markdown as safe HTML, with code blocks highlighted by Pygments.

static/markdown.js renders the streaming text the same way in the page (markdown-it, the same
preset and rules, then DOMPurify), so the final HTML from here replaces it without a jump: the
only difference is the highlighting spans. Keep the two in step.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# Links may point to the web, to mail, or within the page; nothing else (javascript:, data:, ...).
SAFE_SCHEMES = ("http", "https", "mailto")
SCHEME_PATTERN = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
LANGUAGE_PATTERN = re.compile(r"^[\w+#.\-]{1,40}$")
# Pygments' short class names (.k, .s, ...), styled by static/highlight.css (scripts/highlight_css.py).
FORMATTER = HtmlFormatter(nowrap=True)
ALIGNMENTS = ("left", "center", "right")


def is_safe_link(url: str) -> bool:
    """True for http(s)/mailto URLs and for relative ones (no scheme at all)."""
    match = SCHEME_PATTERN.match(url.strip())
    return match is None or match.group(1).lower() in SAFE_SCHEMES


def lexer_for(language: str) -> Lexer | None:
    """The Pygments lexer a fence names (```python), or None: unknown names are not guessed."""
    if not LANGUAGE_PATTERN.match(language):
        return None
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def code_block(code: str, language: str = "") -> str:
    """A code block as the page shows it: focusable (it scrolls sideways), highlighted when known."""
    lexer = lexer_for(language) if language else None
    body = highlight(code, lexer, FORMATTER) if lexer else escapeHtml(code)
    language_class = f' class="language-{escapeHtml(language)}"' if language else ""
    return f'<pre class="highlight" tabindex="0"><code{language_class}>{body}</code></pre>'


def _alignment_classes(state) -> None:  # noqa: ANN001 - markdown-it's core rule signature
    """Table alignment as classes: the CSP refuses inline style attributes."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open"):
            style = str(token.attrGet("style") or "")
            token.attrs.pop("style", None)
            alignment = style.removeprefix("text-align:")
            if alignment in ALIGNMENTS:
                token.attrSet("class", f"align-{alignment}")


def _build_markdown() -> MarkdownIt:
    # "js-default": CommonMark with tables and strikethrough, and raw HTML off (it is escaped).
    md = MarkdownIt("js-default", {"highlight": lambda code, language, _attrs: code_block(code, language)})
    # Every link is parsed as a link and checked as it is rendered (link_open below): an unsafe
    # target is dropped and its text kept, so no javascript: URL survives even as literal text.
    md.validateLink = lambda url: True
    md.disable("image")  # remote images would track readers; the CSP blocks them anyway
    md.core.ruler.push("alignment_classes", _alignment_classes)

    def link_open(renderer, tokens, index, options, env):  # noqa: ANN001 - markdown-it's rule signature
        token = tokens[index]
        if not is_safe_link(str(token.attrGet("href") or "")):
            token.attrs.pop("href", None)
            token.attrSet("class", "link-removed")
            token.attrSet("title", "Link removed: its address is not http, https or mailto")
        else:
            token.attrSet("rel", "nofollow noopener noreferrer")
        return renderer.renderToken(tokens, index, options, env)

    def indented_code(renderer, tokens, index, options, env):  # noqa: ANN001
        return code_block(tokens[index].content) + "\n"

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("code_block", indented_code)
    return md


_markdown = _build_markdown()


def render_markdown(text: str) -> Markup:
    """Assistant Markdown as HTML that can carry no script, handler, style or unsafe URL."""
    return Markup(_markdown.render(text or ""))

"""Write static/highlight.css: Pygments' classes in a light and a dark theme (prefers-color-scheme).

    .venv/bin/python scripts/highlight_css.py

chatapp/ui/markdown.py highlights code blocks with Pygments' short class names (.k, .s2, ...);
this file styles them. Both styles keep every token at 4.5:1 or more against their background
(WCAG AA). tests/test_highlight_css.py fails when the committed file differs from what this
script writes with the pinned Pygments.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pygments.formatters import HtmlFormatter

LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"
SELECTOR = ".highlight"
TARGET = Path(__file__).resolve().parent.parent / "static" / "highlight.css"


def theme(style: str, indent: str = "") -> str:
    formatter = HtmlFormatter(style=style)
    rules = formatter.get_background_style_defs(SELECTOR) + formatter.get_token_style_defs(SELECTOR)
    # The block's own colours come from app.css (--code-bg, --code-text), which match these styles.
    rules = [rule for rule in rules if not rule.startswith(f"{SELECTOR} {{")]
    return "\n".join(indent + rule for rule in rules)


def stylesheet() -> str:
    return (
        f"/* Written by scripts/highlight_css.py: Pygments' {LIGHT_STYLE!r} style, and {DARK_STYLE!r} in dark mode. */\n"
        f"{theme(LIGHT_STYLE)}\n"
        "@media (prefers-color-scheme: dark) {\n"
        f"{theme(DARK_STYLE, '  ')}\n"
        "}\n"
    )


if __name__ == "__main__":
    TARGET.write_text(stylesheet())
    sys.stdout.write(f"wrote {TARGET}\n")

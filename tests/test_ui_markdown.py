"""Assistant Markdown on the server (chatapp/ui/markdown.py): Pygments highlighting, CSP-safe tables,
focusable code blocks, and the committed highlight.css matching scripts/highlight_css.py."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from chatapp.ui.markdown import code_block, lexer_for, render_markdown
from chatapp.ui.rendering import as_datetime, exact_time, relative_time, reply_problem

ROOT = Path(__file__).resolve().parent.parent


def test_a_fenced_block_in_a_known_language_gets_pygments_classes():
    html = str(render_markdown("```python\nimport os\nprint('<b>')\n```\n"))
    assert html.startswith('<pre class="highlight" tabindex="0"><code class="language-python">')
    assert '<span class="kn">import</span>' in html and '<span class="nb">print</span>' in html
    assert "&lt;b&gt;" in html and "<b>" not in html


@pytest.mark.parametrize("fence", ["```\nplain <i>\n```\n", "```no-such-language\nplain <i>\n```\n", "    plain <i>\n"])
def test_other_code_blocks_are_escaped_unhighlighted_and_focusable(fence):
    html = str(render_markdown(fence))
    assert html.startswith('<pre class="highlight" tabindex="0"><code')
    assert "plain &lt;i&gt;" in html and "<span" not in html


def test_a_hostile_language_name_is_escaped_and_not_looked_up():
    assert lexer_for('python"onload=x') is None
    html = code_block("x\n", 'evil"onload=alert(1)')
    assert 'class="language-evil&quot;onload=alert(1)"' in html and ' onload=' not in html


def test_table_alignment_becomes_classes_not_inline_styles():
    html = str(render_markdown("| a | b | c | d |\n|:-|:-:|-:|---|\n| 1 | 2 | 3 | 4 |\n"))
    assert "style=" not in html  # the CSP refuses inline styles
    assert '<th class="align-left">a</th>' in html and '<td class="align-center">2</td>' in html
    assert '<td class="align-right">3</td>' in html and "<td>4</td>" in html


def test_relative_and_exact_times_accept_records_and_iso_strings():
    moment = as_datetime("2024-03-05T10:00:00+00:00")
    assert relative_time("2024-03-05T10:00:00+00:00", now=moment.replace(minute=7)) == "7 min ago"
    assert relative_time(moment, now=moment.replace(year=2025)) == "Mar 5, 2024"
    assert exact_time("2024-03-05T10:00:00+00:00") == exact_time(moment) == "2024-03-05 10:00 UTC"
    assert relative_time(None) == exact_time("") == ""


@pytest.mark.parametrize(
    "metadata, words",
    [
        ({"status": "complete"}, ""),
        ({"status": "incomplete"}, "This reply is incomplete: it was stopped before it finished."),
        ({"status": "incomplete", "error": {"code": "upstream_error", "message": "closed"}}, "the model server stopped answering midway"),
        ({"status": "error", "error": {"code": "upstream_error", "message": "HTTP 500"}}, "The model server answered an error; try again."),
        ({"status": "error", "error": {"code": "upstream_error", "message": "Could not reach the assistant backend at x."}}, "could not be reached"),
        ({"status": "error", "error": {"code": "upstream_timeout", "message": "slow"}}, "took too long"),
        ({"status": "error", "error": {"code": "something_else", "message": "?"}}, "The reply failed; try again."),
    ],
)
def test_reply_problems_in_plain_words(metadata, words):
    problem = reply_problem(metadata)
    assert (words in problem) if words else problem == ""


def test_the_committed_highlight_css_is_what_the_script_writes():
    spec = importlib.util.spec_from_file_location("highlight_css", ROOT / "scripts" / "highlight_css.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "static" / "highlight.css").read_text()
    assert committed == module.stylesheet(), "run scripts/highlight_css.py"
    light, dark = committed.split("@media (prefers-color-scheme: dark)")
    for theme in (light, dark):  # both themes style the classes the server emits
        assert re.search(r"\.highlight \.kn \{ color: #", theme) and re.search(r"\.highlight \.c1 \{ color: #", theme)

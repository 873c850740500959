"""Accessibility (WCAG 2.1 AA) in Chromium: axe-core (tests/vendor/axe-core, from scripts/vendor.sh)
finds no serious or critical violation on any page, in light and dark mode, on a desktop and a
phone, with open menus and dialogs, and while a reply streams."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from chatapp.extensions import db
from chatapp.services import chat_store
from support.browser import DESKTOP, PHONE, Served, axe_violations, check_axe, chromium, register, send, serve

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=15_000)

ANSWER = (
    "Use the standard library's `csv` module:\n\n```python\nimport csv\n\nwith open(\"sales.csv\", newline=\"\") as f:\n"
    "    total = sum(float(row[\"amount\"]) for row in csv.DictReader(f))\n# a comment\nprint(f\"Total: {total:.2f}\")\n```\n\n"
    "| column | meaning |\n|:--|--:|\n| `amount` | **money** |\n\n> A quote with a [link](https://example.com/) and a [bad one](javascript:alert(1)).\n\n"
    "1. first\n2. second\n\n```diff\n- removed\n+ added\n```\n\n```json\n{\"key\": [1, true, null]}\n```"
)



@pytest.fixture(scope="module")
def served(llm, tmp_path_factory) -> Iterator[Served]:
    # What is checked is the pages' markup and styles: SQLite is enough.
    env = {"ASSISTANT_BASE_URL": llm.base_url, "ASSISTANT_MODEL": "fake-model", "ASSISTANT_TIMEOUT": "10"}
    with serve("sqlite", tmp_path_factory.mktemp("a11y"), env=env) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def seed(served: Served, email: str) -> str:
    """A thread with every kind of item the page shows: Markdown with code, a failed and a cut-short reply, a tool call."""
    user_id = served.user_id(email)
    for title in ("Trip ideas for Lisbon", "SQL index for keyset paging"):
        served.seed_thread(user_id, title, [("user", title)])
    thread_id = served.seed_thread(user_id, "Parse a CSV file", [("user", "How do I sum a CSV column?"), ("assistant", ANSWER)])
    with served.app.app_context():
        store = chat_store()
        question = store.add_item(user_id, thread_id, content="And with pandas?", role="user")[0]
        store.add_item(
            user_id, thread_id, role="assistant", content="The assistant could not answer: HTTP 500",
            metadata={"status": "error", "placeholder": True, "in_reply_to": question.id,
                      "error": {"code": "upstream_error", "message": "The assistant backend answered HTTP 500: the model crashed"}},
        )
        store.add_item(
            user_id, thread_id, role="assistant", content="With pandas, `read_csv` then",
            metadata={"status": "incomplete", "in_reply_to": question.id, "demo": True},
        )
        store.add_item(user_id, thread_id, content={"name": "lookup", "arguments": {"q": "pandas"}}, role="tool", type="tool_call")
        db.session.remove()
    return thread_id


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_is_free_of_serious_axe_violations(served, browser, scheme, viewport):
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    context.set_default_timeout(15_000)
    page = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        base = served.base
        for path in ("/login", "/register"):
            page.goto(base + path)
            check_axe(page, path, found)
        page.goto(base + "/login?next=/settings")
        page.get_by_label("Email").fill("nobody@example.com")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".form-error")).to_be_visible()
        check_axe(page, "/login with an error", found)

        email = register(page, base)
        check_axe(page, "/ (no chats yet)", found)
        thread_id = seed(served, email)
        page.goto(f"{base}/t/{thread_id}")
        expect(page.locator(".code-block")).to_have_count(3)  # the page's script has enhanced it
        check_axe(page, "/t/<id>", found)
        page.locator("details.reply-detail summary").click()
        page.locator(".thread-actions summary", has_text="Rename").click()  # Rename's form
        check_axe(page, "/t/<id> with the details and the rename form open", found)
        page.keyboard.press("Escape")
        page.locator("body").press("?")
        expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
        check_axe(page, "the shortcuts dialog", found)
        page.keyboard.press("Escape")
        if viewport is PHONE:
            page.locator("summary", has_text="Account menu").click()
            expect(page.locator(".account-panel")).to_be_visible()
            check_axe(page, "the phone's account menu", found)
        for path in ("/", "/threads", f"/t/{thread_id}/delete", "/t/thr_missing"):
            page.goto(base + path)
            check_axe(page, path, found)
        page.goto(base + "/settings")
        page.get_by_label("Token name").fill("laptop")
        page.get_by_role("button", name="Create token").click()
        expect(page.get_by_label("New API token")).to_be_visible()
        check_axe(page, "/settings with a new token", found)
        page.get_by_role("button", name="Revoke").click()
        check_axe(page, "/settings with a revoked token", found)
        page.get_by_role("button", name="Import", exact=True).click()  # no file chosen
        expect(page.locator(".import-form .form-error")).to_be_visible()
        check_axe(page, "/settings with an import error", found)
        for path in ("/search?q=CSV", "/search?q=-only", "/search?q=nothing+matches+this"):
            page.goto(base + path)
            check_axe(page, path, found)
        page.goto(f"{base}/t/{thread_id}")
        page.locator(".thread-actions summary", has_text="Export").click()
        check_axe(page, "/t/<id> with the export menu open", found)
        page.goto(f"{base}/t/{thread_id}")
        page.get_by_label("Message", exact=True).fill("x" * 31_000)  # the counter near the limit
        expect(page.locator("#composer-count")).to_be_visible()
        check_axe(page, "the composer near its limit", found)
    finally:
        context.close()
    assert found == {}, "\n".join(f"{where}:\n  " + "\n  ".join(lines) for where, lines in found.items())


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_streaming_reply_is_free_of_serious_axe_violations(served, browser, llm, scheme):
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
    page = context.new_page()
    try:
        register(page, served.base)
        llm.script("hang_midstream", deltas=["Here is **bold** and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nx = 1\n", "never"])
        send(page, "Stream slowly")
        pending = page.locator(".msg-assistant.is-pending")
        expect(pending.locator("strong")).to_have_text("bold")
        expect(page.get_by_role("button", name="Stop")).to_be_visible()
        violations = axe_violations(page)
        page.get_by_role("button", name="Stop").click()
        expect(page.locator(".msg-assistant .reply-problem")).to_have_text(re.compile("incomplete"))
        violations += axe_violations(page)
    finally:
        context.close()
    assert violations == []


def test_axe_finds_the_contrast_failures_this_page_once_had(served, browser):
    """The check above is not vacuous: with the old colours back, axe reports them."""
    context = browser.new_context(viewport=DESKTOP, color_scheme="dark")
    page = context.new_page()
    try:
        register(page, served.base)
        assert axe_violations(page) == []
        page.evaluate("document.documentElement.style.setProperty('--muted', '#6b7280'); document.documentElement.style.setProperty('--on-accent', '#fff')")
        violations = axe_violations(page)
    finally:
        context.close()
    assert any("color-contrast" in line and "2.98" in line for line in violations), violations

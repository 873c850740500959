"""The chat UI in real Chromium (Playwright), against chatapp under gunicorn, on SQLite and PostgreSQL.

Also takes the README's screenshots of the thread page (desktop and phone, light and dark, the
phone's account menu open) into docs/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatapp.extensions import db
from chatapp.services import chat_store
from support.browser import DESKTOP, PHONE, Served, chromium, register, send, serve
from support.databases import BACKENDS

sync_api = pytest.importorskip("playwright.sync_api")

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
HOSTILE = "<script>alert('script')</script> <img src=x onerror=alert('img')> [x](javascript:alert('link'))"


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory) -> Iterator[Served]:
    with serve(request.param, tmp_path_factory.mktemp("served")) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.dialogs = []  # type: ignore[attr-defined]
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()


def test_register_start_a_chat_send_and_reload(served, page):
    register(page, served.base)
    page.evaluate("window.__sameDocument = true")
    send(page, "Hello from Chromium")
    user_messages = page.locator(".msg-user .msg-body")
    sync_api.expect(user_messages).to_have_text(["Hello from Chromium"])
    page.wait_for_url(f"{served.base}/t/*")  # the new chat's address, without a reload
    thread_url = page.url
    send(page, "A second message")
    sync_api.expect(user_messages).to_have_text(["Hello from Chromium", "A second message"])
    assert page.evaluate("window.__sameDocument") is True  # sending never reloaded the page
    sync_api.expect(page.get_by_label("Message", exact=True)).to_have_value("")
    sync_api.expect(page.locator("#sidebar-threads .thread-title").first).to_have_text("Hello from Chromium")

    page.reload()
    assert page.url == thread_url
    sync_api.expect(page.locator(".msg-user .msg-body")).to_have_text(["Hello from Chromium", "A second message"])
    assert page.evaluate("window.__sameDocument") is None
    assert page.dialogs == []


def test_a_second_user_does_not_see_the_first_users_chat(served, browser, page):
    register(page, served.base)
    send(page, "Alice's private plans")
    page.wait_for_url(f"{served.base}/t/*")
    alice_thread = page.url

    other = browser.new_context()
    try:
        bob = other.new_page()
        register(bob, served.base)
        assert "Alice's private plans" not in bob.content()
        bob.goto(served.base + "/threads")
        assert "Alice's private plans" not in bob.content()
        response = bob.goto(alice_thread)
        assert response.status == 404
        sync_api.expect(bob.get_by_role("heading", level=1)).to_have_text("We couldn’t find that")
        assert "Alice's private plans" not in bob.content()
    finally:
        other.close()


def test_hostile_messages_render_inert(served, page):
    email = register(page, served.base)
    send(page, HOSTILE)
    page.wait_for_url(f"{served.base}/t/*")
    thread_id = page.url.rsplit("/", 1)[-1]
    markdown = "Here is **bold**.\n\n" + HOSTILE + "\n\n[safe link](https://example.com/)"
    with served.app.app_context():
        chat_store().add_item(served.user_id(email), thread_id, content=markdown, role="assistant")
        db.session.remove()
    page.reload()
    sync_api.expect(page.locator(".msg-assistant .markdown strong")).to_have_text(["bold"])
    messages = page.locator("#messages")
    # The text is shown as text...
    sync_api.expect(page.locator(".msg-user .msg-body").first).to_contain_text("<script>alert('script')</script>")
    sync_api.expect(page.locator(".msg-assistant .markdown").last).to_contain_text("<img src=x onerror=alert('img')>")
    # ...and nothing of it became an element, a handler or a URL.
    assert messages.locator("script, img, iframe, object, embed").count() == 0
    assert page.locator("[onerror], [onclick], [onload]").count() == 0
    hrefs = page.eval_on_selector_all("[href], [src], [action]", "els => els.map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action'))")
    assert hrefs and not [h for h in hrefs if h.strip().lower().startswith(("javascript:", "data:"))]
    assert page.locator(".msg-assistant a[href='https://example.com/']").count() == 1
    page.locator(".msg-assistant .markdown a.link-removed").first.click()  # the defused link does nothing
    page.wait_for_timeout(300)  # a dialog, if one could fire, would have fired by now
    assert page.dialogs == []
    assert page.url.endswith(thread_id)


def test_load_earlier_pages_back_to_the_first_of_120_messages(served, page):
    email = register(page, served.base)
    roles = ("user", "assistant")
    messages = [(roles[n % 2], f"Message number {n + 1}") for n in range(120)]
    thread_id = served.seed_thread(served.user_id(email), "A long chat", messages)
    page.goto(f"{served.base}/t/{thread_id}")
    bodies = page.locator("#messages .msg-body")
    sync_api.expect(bodies).to_have_count(50)
    sync_api.expect(bodies.last).to_have_text("Message number 120")
    sync_api.expect(bodies.first).to_have_text("Message number 71")
    load_earlier = page.get_by_role("link", name="Load earlier")
    clicks = 0
    while load_earlier.count() and clicks < 10:
        expected = max(0, 120 - 50 * (clicks + 2))
        load_earlier.click()
        clicks += 1
        sync_api.expect(bodies.first).to_have_text(f"Message number {expected + 1}")
    assert clicks == 2
    sync_api.expect(bodies).to_have_count(120)
    texts = bodies.all_inner_texts()
    assert texts == [content for _role, content in messages]  # all of them, in order, once each


def test_screenshots_of_the_thread_page(served, browser):
    """The README's pictures: desktop and phone, light and dark, and the phone's account menu open."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        email = register(page, served.base, "sam@example.com")  # fixed, so the pictures stay the same
        user_id = served.user_id(email)
        for title in ("Trip ideas for Lisbon", "SQL index for keyset paging", "Birthday gift for Sam", "Weekly meal plan"):
            served.seed_thread(user_id, title, [("user", title)])
        thread_id = served.seed_thread(
            user_id,
            "Parse a CSV file in Python",
            [
                ("user", "How do I read a CSV file in Python and sum one column?"),
                (
                    "assistant",
                    "Use the standard library's `csv` module:\n\n```python\nimport csv\n\n"
                    "with open(\"sales.csv\", newline=\"\") as f:\n"
                    "    total = sum(float(row[\"amount\"]) for row in csv.DictReader(f))\n"
                    "print(f\"Total: {total:.2f}\")\n```\n\n"
                    "- `DictReader` maps each row to the header names.\n"
                    "- `newline=\"\"` lets the module handle line endings.\n\n"
                    "For large files, see the [csv docs](https://docs.python.org/3/library/csv.html).",
                ),
                ("user", "And if some amounts are empty?"),
                ("assistant", "Skip them with a condition: `float(v) for v in values if v.strip()`. Empty strings would otherwise raise **ValueError**."),
            ],
        )
        shots = []
        for scheme, viewport, name in (
            ("light", DESKTOP, "thread-desktop.png"),
            ("dark", DESKTOP, "thread-desktop-dark.png"),
            ("light", PHONE, "thread-phone.png"),
            ("dark", PHONE, "thread-phone-dark.png"),
        ):
            page.emulate_media(color_scheme=scheme)
            page.set_viewport_size(viewport)
            page.goto(f"{served.base}/t/{thread_id}")
            sync_api.expect(page.locator(".msg")).to_have_count(4)
            sync_api.expect(page.locator(".code-block .highlight .kn")).to_have_text("import")
            if viewport is PHONE:
                sync_api.expect(page.locator(".topbar-chats")).to_be_visible()
                assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing overflows sideways
            page.screenshot(path=str(SCREENSHOTS / name))
            shots.append(name)
        page.emulate_media(color_scheme="light")
        page.locator("summary", has_text="Account menu").click()
        sync_api.expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "thread-phone-menu.png"))
        shots.append("thread-phone-menu.png")
    finally:
        context.close()
    for name in shots:
        assert (SCREENSHOTS / name).stat().st_size > 10_000, name

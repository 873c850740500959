"""The chat UI in real Chromium (Playwright), against chatapp under gunicorn, on SQLite and PostgreSQL.

Also takes the README's screenshots of the thread page (desktop and phone) into docs/screenshots/.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from chatapp.store.accounts import AccountStore
from chatapp.extensions import db
from chatapp.services import chat_store
from conftest import BACKENDS, create_pg_database, drop_pg_database, make_app
from browser import CHROMIUM, CHROMIUM_ARGS
from servers import gunicorn_server, migrate

sync_api = pytest.importorskip("playwright.sync_api")

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "correct horse battery"
HOSTILE = "<script>alert('script')</script> <img src=x onerror=alert('img')> [x](javascript:alert('link'))"


class Served:
    """chatapp under gunicorn, plus an in-process app on the same database for seeding."""

    def __init__(self, base: str, app: Flask, backend: str):
        self.base, self.app, self.backend = base, app, backend

    def user_id(self, email: str) -> str:
        with self.app.app_context():
            user_id = AccountStore(db.session).find_user_by_email(email).id
            db.session.remove()
        return user_id

    def seed_thread(self, user_id: str, title: str | None, messages: list[tuple[str, str]]) -> str:
        with self.app.app_context():
            store = chat_store()
            thread_id = store.create_thread(user_id, title=title).id
            for role, content in messages:
                store.add_item(user_id, thread_id, content=content, role=role)
            db.session.remove()
        return thread_id


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory) -> Iterator[Served]:
    instance = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{instance / 'chatapp.db'}" if request.param == "sqlite" else create_pg_database()
    migrate(url, str(instance))
    app = make_app(url, str(instance))
    try:
        with gunicorn_server(url, str(instance)) as base:
            yield Served(base, app, request.param)
    finally:
        with app.app_context():
            db.engine.dispose()
        if request.param == "postgresql":
            drop_pg_database(url)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.dialogs = []  # type: ignore[attr-defined]
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()


def register(page, base: str, email: str | None = None) -> str:
    email = email or f"b{secrets.token_hex(5)}@example.com"
    page.goto(base + "/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(base + "/")
    return email


def send(page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


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
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
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
        page.goto(f"{served.base}/t/{thread_id}")
        sync_api.expect(page.locator(".msg")).to_have_count(4)
        page.screenshot(path=str(SCREENSHOTS / "thread-desktop.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{served.base}/t/{thread_id}")
        sync_api.expect(page.locator(".topbar-chats")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows sideways
        page.screenshot(path=str(SCREENSHOTS / "thread-phone.png"))
    finally:
        context.close()
    assert (SCREENSHOTS / "thread-desktop.png").stat().st_size > 10_000
    assert (SCREENSHOTS / "thread-phone.png").stat().st_size > 10_000

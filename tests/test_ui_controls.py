"""The controls around the conversation in Chromium against gunicorn (the offline demo responder):
Copy buttons and the clipboard, keyboard shortcuts and their dialog, the new chat's header, the
character counter, times, the phone's account menu, and sending with JavaScript turned off."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from chatapp.extensions import db
from chatapp.services import chat_store
from support.browser import DESKTOP, PHONE, Served, chromium, register, send, serve, watch

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=15_000)

LIMIT = 500
CODE = 'import csv\n\nwith open("sales.csv") as f:\n    print(sum(1 for _ in csv.reader(f)))\n'
ANSWER = "Count the rows:\n\n```python\n" + CODE + "```\n\n- one **bold** point"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    # The page's controls do not depend on the database: SQLite is enough here.
    with serve("sqlite", tmp_path_factory.mktemp("controls"), env={"MAX_MESSAGE_CHARS": str(LIMIT), "ASSISTANT_BASE_URL": ""}) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def new_page(browser, **options):
    context = browser.new_context(viewport=options.pop("viewport", DESKTOP), **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.problems = watch(page)  # type: ignore[attr-defined]
    return page


@pytest.fixture
def page(browser):
    page = new_page(browser, permissions=["clipboard-read", "clipboard-write"])
    yield page
    page.context.close()


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def seed_answered_thread(served: Served, email: str) -> str:
    return served.seed_thread(served.user_id(email), "Counting rows", [("user", "How do I count CSV rows?"), ("assistant", ANSWER)])


def test_copy_buttons_put_messages_and_code_on_the_clipboard(served, page):
    email = register(page, served.base)
    page.goto(f"{served.base}/t/{seed_answered_thread(served, email)}")
    user, assistant = page.locator(".msg-user"), page.locator(".msg-assistant")
    user.get_by_role("button", name="Copy message").click()
    expect(user.get_by_role("button", name="Copy message")).to_have_text("Copied")
    assert clipboard(page) == "How do I count CSV rows?"
    assistant.get_by_role("button", name="Copy message").click()
    assert clipboard(page) == ANSWER  # the Markdown as written
    assistant.get_by_role("button", name="Copy code").click()
    assert clipboard(page) == CODE
    expect(page.locator("#announcer")).to_have_text("Copied to the clipboard.")
    # Code blocks are keyboard-reachable (they scroll sideways) and carry Pygments' classes.
    pre = assistant.locator("pre.highlight")
    assert pre.get_attribute("tabindex") == "0"
    expect(pre.locator(".kn")).to_have_text("import")
    expect(pre.locator(".s2")).to_have_text('"sales.csv"')
    assert page.problems == []


def test_copy_button_for_a_streamed_reply_and_the_one_time_api_token(served, browser):
    page = new_page(browser, viewport=PHONE, color_scheme="dark", permissions=["clipboard-read", "clipboard-write"])
    try:
        copy_a_streamed_reply_and_a_token(served, page)
    finally:
        page.context.close()


def copy_a_streamed_reply_and_a_token(served, page):
    register(page, served.base)
    send(page, "Copy me")
    reply = page.locator(".msg-assistant").last
    expect(reply.locator(".reply-label")).to_be_visible()
    reply.get_by_role("button", name="Copy message").click()
    assert clipboard(page).startswith("Demo responder (offline, no model connected).\n\nYou asked: “Copy me”")

    page.goto(served.base + "/settings")
    page.get_by_label("Token name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New API token").input_value()
    assert token.startswith("chat_")
    page.locator(".token-once").get_by_role("button", name="Copy").click()
    assert clipboard(page) == token
    assert page.url == served.base + "/settings"  # redirected after the POST
    page.reload()  # a GET: the token is not shown again, and no second one is made
    expect(page.get_by_label("New API token")).to_have_count(0)
    expect(page.get_by_role("cell", name="laptop", exact=True)).to_have_count(1)
    assert page.problems == []


def test_keyboard_shortcuts_and_their_dialog(served, page):
    email = register(page, served.base)
    thread_id = seed_answered_thread(served, email)
    page.goto(f"{served.base}/t/{thread_id}")
    page.locator("body").press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Ctrl Shift O")
    expect(dialog).to_contain_text("Stop the reply being written")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Shortcuts").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    page.get_by_label("Message", exact=True).press("?")  # typing a question mark is just typing
    expect(dialog).to_be_hidden()
    page.locator(".thread-heading").click()
    page.keyboard.press("Shift+Escape")
    assert page.evaluate("document.activeElement.id") == "message"
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(served.base + "/")
    expect(page.get_by_role("heading", name="What can I help with?")).to_be_visible()
    page.goto(f"{served.base}/t/{thread_id}")
    page.keyboard.press("Meta+Shift+O")  # Cmd on a Mac
    page.wait_for_url(served.base + "/")
    assert page.problems == []


def test_the_new_chats_header_appears_after_its_first_message(served, page):
    register(page, served.base)
    expect(page.locator(".thread-header")).to_have_count(0)
    page.evaluate("window.__sameDocument = true")
    send(page, "Plan a picnic")
    header = page.locator(".thread-header")
    expect(header.get_by_role("heading", level=1)).to_have_text("Plan a picnic")
    expect(header.get_by_role("link", name="Delete")).to_have_attribute("href", re.compile(r"^/t/thr_[0-9a-f]+/delete$"))
    header.locator("summary", has_text="Rename").click()
    header.get_by_label("Title").fill("Picnic, renamed")
    expect(page.locator(".msg-assistant .reply-label")).to_be_visible()  # the reply finished first
    assert page.evaluate("window.__sameDocument") is True
    header.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Picnic, renamed")
    assert page.problems == []


def test_the_counter_shows_near_the_limit_and_a_long_paste_is_kept_whole(served, page):
    register(page, served.base)
    composer = page.get_by_label("Message", exact=True)
    counter = page.locator("#composer-count")
    composer.fill("x" * 300)
    expect(counter).to_be_hidden()
    composer.fill("x" * 460)
    expect(counter).to_have_text("460 / 500 characters")
    composer.fill("")
    page.evaluate("text => navigator.clipboard.writeText(text)", "y" * 600)
    composer.focus()
    page.keyboard.press("Control+V")
    expect(composer).to_have_value("y" * 600)  # no maxlength cutting it short
    expect(counter).to_have_text("100 characters over the 500 limit: shorten the message to send it.")
    composer.press("Enter")
    expect(page.locator("#composer-error")).to_have_text("Messages are limited to 500 characters; this one has 600.")
    expect(page.locator(".msg")).to_have_count(0)  # nothing was sent
    assert page.url == served.base + "/"
    assert page.problems == []


def test_messages_show_relative_times_with_the_exact_time_on_hover(served, page):
    email = register(page, served.base)
    thread_id = seed_answered_thread(served, email)
    with served.app.app_context():
        old = chat_store().add_item(served.user_id(email), thread_id, content="an older one", role="user")[0]
        db.session.remove()
    page.clock.install()  # the page's timers run on Playwright's clock, from now on
    page.goto(f"{served.base}/t/{thread_id}")
    times = page.locator(".msg time[data-relative]")
    expect(times).to_have_count(3)
    for index in range(3):
        expect(times.nth(index)).to_have_text("just now")
        assert times.nth(index).get_attribute("datetime").startswith("20")
        title = times.nth(index).get_attribute("title")
        assert title and not title.endswith("UTC")  # the script shows the exact time in local time
    # The page keeps the label fresh: pretend the clock moved on by three minutes.
    page.evaluate(
        "id => document.getElementById(id).querySelector('time').setAttribute('datetime', new Date(Date.now() - 180000).toISOString())",
        old.id,
    )
    page.clock.run_for(31_000)
    expect(page.locator(f"[id='{old.id}'] time")).to_have_text("3 min ago")
    assert page.problems == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_phone_account_menu_reaches_settings_and_log_out(served, browser, scheme):
    page = new_page(browser, viewport=PHONE, color_scheme=scheme)
    try:
        register(page, served.base)
        expect(page.locator(".sidebar")).to_be_hidden()
        expect(page.locator(".only-narrow")).to_have_text("find them under “Chats” at the top.")
        expect(page.locator(".only-wide")).to_be_hidden()
        page.locator("summary", has_text="Account menu").click()
        page.get_by_role("link", name="Settings").click()
        page.wait_for_url(served.base + "/settings")
        page.locator("summary", has_text="Account menu").click()
        page.keyboard.press("Escape")  # closes the menu
        expect(page.get_by_role("button", name="Log out", exact=True)).to_be_hidden()
        page.locator("summary", has_text="Account menu").click()
        page.get_by_role("button", name="Log out", exact=True).click()
        page.wait_for_url(served.base + "/login")
        assert page.goto(served.base + "/").url.startswith(served.base + "/login")  # really signed out
        assert page.problems == []
    finally:
        page.context.close()


def test_without_javascript_a_sent_message_gets_its_reply(served, browser):
    page = new_page(browser, java_script_enabled=False)
    try:
        email = register(page, served.base)
        page.get_by_label("Message", exact=True).fill("Is anyone there without JavaScript?")
        page.get_by_role("button", name="Send").click()
        page.wait_for_url(re.compile(r".*/t/thr_[0-9a-f]+#latest$"))
        expect(page.locator(".msg-user .msg-body")).to_have_text(["Is anyone there without JavaScript?"])
        reply = page.locator(".msg-assistant .msg-body")
        expect(reply).to_contain_text("You asked: “Is anyone there without JavaScript?”")
        expect(page.get_by_role("button", name="Stop")).to_be_hidden()
        expect(page.get_by_role("button", name="Copy message")).to_have_count(0)  # no dead buttons
        page.get_by_label("Message", exact=True).fill("And a second one")
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".msg-assistant .msg-body")).to_have_count(2)
        thread_id = page.url.split("/t/")[1].split("#")[0]
        items = served.items(served.user_id(email), thread_id)
        assert [(item.role, item.metadata.get("status")) for item in items] == [
            ("user", None), ("assistant", "complete"), ("user", None), ("assistant", "complete")
        ]
        # The phone menu is a <details>: it opens without script too.
        page.set_viewport_size(PHONE)
        page.locator("summary", has_text="Account menu").click()
        page.get_by_role("button", name="Log out", exact=True).click()
        page.wait_for_url(served.base + "/login")
    finally:
        page.context.close()

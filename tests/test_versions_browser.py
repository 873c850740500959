"""Versions and attachments in real Chromium, against gunicorn and the fake model server, on SQLite
and PostgreSQL, on a desktop in light mode and a phone in dark mode: Regenerate and `< 1/2 >`,
Edit and the old branch, Retry in place of a failure, files by the + button and by drag and drop
with chips, thumbnails and downloads, isolation, and the same actions with JavaScript turned off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.browser import DESKTOP, PHONE, chromium, register, send, serve, watch
from support.databases import BACKENDS
from support.sample_files import png

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=20_000)

SCREENS = [pytest.param((DESKTOP, "light"), id="desktop-light"), pytest.param((PHONE, "dark"), id="phone-dark")]
PNG = png(48, 32)



@pytest.fixture(scope="module", params=BACKENDS)
def served(request, llm, tmp_path_factory):
    env = {"ASSISTANT_BASE_URL": llm.base_url, "ASSISTANT_MODEL": "fake-model", "ASSISTANT_TIMEOUT": "3", "MAX_ATTACHMENT_BYTES": "100000"}
    with serve(request.param, tmp_path_factory.mktemp("versions"), env=env) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def new_page(browser, viewport=DESKTOP, scheme="light", **options):
    context = browser.new_context(viewport=viewport, color_scheme=scheme, **options)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    tab.problems = watch(tab)  # type: ignore[attr-defined]
    return tab


@pytest.fixture
def screen(request, browser):
    viewport, scheme = request.param
    tab = new_page(browser, viewport, scheme)
    tab.viewport = viewport  # type: ignore[attr-defined]
    yield tab
    tab.context.close()


def bodies(page, role: str):
    return page.locator(f"#messages .msg-{role} .msg-body")


def label_of(message) -> str:
    """The `k/n` a message shows ("" without versions)."""
    label = message.locator(".version-label")
    return "/".join(re.findall(r"\d+", label.text_content())) if label.count() else ""


def fits(page) -> None:
    if page.viewport is PHONE:  # type: ignore[attr-defined]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing overflows sideways


def thread_id_of(page) -> str:
    page.wait_for_url(re.compile(r".*/t/thr_[0-9a-f]+$"))
    return page.url.rsplit("/", 1)[-1]


@pytest.mark.parametrize("screen", SCREENS, indirect=True)
def test_regenerate_shows_two_of_two_and_switching_changes_what_a_reload_shows(served, screen, llm):
    page = screen
    register(page, served.base)
    llm.script("reply", deltas=["The first ", "answer."])
    send(page, "Tell me a joke")
    replies = bodies(page, "assistant")
    expect(replies).to_have_text(["The first answer."])
    regenerate = page.get_by_role("button", name="Regenerate this reply")
    expect(regenerate).to_be_visible()
    llm.script("reply", deltas=["A second ", "answer."], delay=0.05)
    regenerate.click()
    expect(replies).to_have_text(["A second answer."])  # in the old reply's place, not after it
    reply = page.locator("#messages .msg-assistant")
    expect(reply.locator(".version-label")).to_have_text(re.compile(r"Version 2/? of 2"))
    assert label_of(reply) == "2/2"
    assert [m["role"] for m in llm.requests[-1]["body"]["messages"][1:]] == ["user"]  # the old answer was not context
    fits(page)

    reply.get_by_role("button", name="Previous version").click()
    expect(replies).to_have_text(["The first answer."])
    assert label_of(page.locator("#messages .msg-assistant")) == "1/2"
    focused = page.evaluate("document.activeElement.getAttribute('data-version')")
    assert focused == "next"  # "previous" is disabled at 1/2: focus stays on the arrows
    expect(page.locator("#announcer")).to_have_text("Version 1 of 2.")
    page.reload()
    expect(replies).to_have_text(["The first answer."])
    assert label_of(page.locator("#messages .msg-assistant")) == "1/2"

    page.locator("#messages .msg-assistant").get_by_role("button", name="Next version").click()
    expect(replies).to_have_text(["A second answer."])
    page.reload()
    expect(replies).to_have_text(["A second answer."])
    assert label_of(page.locator("#messages .msg-assistant")) == "2/2"
    assert page.problems == []  # type: ignore[attr-defined]


def test_stopping_a_regenerated_reply_keeps_it_as_a_version_beside_the_old_one(served, browser, llm):
    page = new_page(browser)
    try:
        register(page, served.base)
        llm.script("reply", deltas=["The original."])
        send(page, "Question")
        expect(bodies(page, "assistant")).to_have_text(["The original."])
        # The model goes quiet after its first words: the server notices the Stop only at its
        # timeout, and meanwhile the branch after the question still ends with the old reply,
        # which the page must not take for the stopped one.
        llm.script("hang_midstream", deltas=["A new start", "never sent"])
        page.get_by_role("button", name="Regenerate this reply").click()
        expect(page.locator(".msg-assistant.is-pending .msg-body")).to_have_text("A new start")
        page.get_by_role("button", name="Stop").click()
        expect(page.locator(".msg-assistant .reply-problem")).to_have_text(re.compile("incomplete"))
        expect(bodies(page, "assistant")).to_have_text(["A new start"])
        assert label_of(page.locator("#messages .msg-assistant")) == "2/2"
        page.get_by_role("button", name="Previous version").click()
        expect(bodies(page, "assistant")).to_have_text(["The original."])
        assert page.problems == []  # type: ignore[attr-defined]
    finally:
        page.context.close()


@pytest.mark.parametrize("screen", SCREENS, indirect=True)
def test_edit_continues_from_the_edit_and_the_old_branch_stays_reachable(served, screen, llm):
    page = screen
    register(page, served.base)
    llm.script("reply", deltas=["Rome is lovely."])
    send(page, "Plan a trip to Rome")
    expect(bodies(page, "assistant")).to_have_text(["Rome is lovely."])
    llm.script("reply", deltas=["Near the Pantheon."])
    send(page, "What about hotels?")
    expect(bodies(page, "assistant")).to_have_text(["Rome is lovely.", "Near the Pantheon."])

    first = page.locator("#messages .msg-user").first
    first.get_by_role("link", name="Edit this message").click()
    editor = first.get_by_label("Edit your message")
    expect(editor).to_have_value("Plan a trip to Rome")
    fits(page)
    editor.fill("Plan a trip to Lisbon")
    llm.script("reply", deltas=["Lisbon ", "it is."])
    first.get_by_role("button", name="Send").click()
    expect(bodies(page, "user")).to_have_text(["Plan a trip to Lisbon"])
    expect(bodies(page, "assistant")).to_have_text(["Lisbon it is."])
    assert label_of(page.locator("#messages .msg-user")) == "2/2"
    assert [(m["role"], m["content"]) for m in llm.requests[-1]["body"]["messages"][1:]] == [("user", "Plan a trip to Lisbon")]
    page.reload()
    expect(bodies(page, "user")).to_have_text(["Plan a trip to Lisbon"])

    page.locator("#messages .msg-user").get_by_role("button", name="Previous version").click()
    expect(bodies(page, "user")).to_have_text(["Plan a trip to Rome", "What about hotels?"])
    expect(bodies(page, "assistant")).to_have_text(["Rome is lovely.", "Near the Pantheon."])
    assert label_of(page.locator("#messages .msg-user").first) == "1/2"
    page.reload()
    expect(bodies(page, "user")).to_have_text(["Plan a trip to Rome", "What about hotels?"])
    # Cancel leaves a message as it was.
    page.locator("#messages .msg-user").last.get_by_role("link", name="Edit this message").click()
    page.keyboard.press("Escape")
    expect(page.locator(".edit-form")).to_have_count(0)
    expect(bodies(page, "user")).to_have_text(["Plan a trip to Rome", "What about hotels?"])
    assert page.problems == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("screen", SCREENS, indirect=True)
def test_retry_after_a_failure_replaces_the_failed_reply(served, screen, llm):
    page = screen
    email = register(page, served.base)
    llm.script("status", status=500)
    send(page, "Are you there?")
    thread_id = thread_id_of(page)
    failed = page.locator("#messages .msg-assistant")
    expect(failed.locator(".reply-problem")).to_have_text("The model server answered an error; try again.")
    failed.get_by_role("button", name="Retry").click()  # fails again: one failure stays, not two
    expect(page.locator("#messages .msg-assistant .reply-problem")).to_have_count(1)
    expect(page.get_by_role("button", name="Retry")).to_be_enabled()
    llm.script("reply", deltas=["Back ", "again."])
    page.get_by_role("button", name="Retry").click()
    expect(bodies(page, "assistant")).to_have_text(["Back again."])
    expect(page.locator("#messages .msg-assistant")).to_have_count(1)
    assert label_of(page.locator("#messages .msg-assistant")) == ""  # the failures were replaced, not kept as versions
    page.reload()
    expect(bodies(page, "assistant")).to_have_text(["Back again."])
    items = served.items(served.user_id(email), thread_id)
    assert [(item.role, item.metadata.get("status")) for item in items] == [("user", None), ("assistant", "complete")]
    assert [problem for problem in page.problems if "status of 502" not in problem] == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("screen", SCREENS, indirect=True)
def test_files_by_button_and_by_drop_show_as_chips_thumbnails_and_downloads(served, screen, llm, browser):
    page = screen
    email = register(page, served.base)
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files([
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"Meet at noon."},
        {"name": "huge.bin", "mimeType": "application/octet-stream", "buffer": b"0" * 100_001},
    ])
    expect(page.locator("#composer-error")).to_have_text(re.compile("“huge.bin” is larger than the 97.7 kB limit"))
    chips = page.locator("[data-file-chips] .composer-file-name")
    expect(chips).to_have_text(["notes.txt"])
    # Drop a picture anywhere on the page: the target shows while it is dragged over.
    transfer = page.evaluate_handle(
        "bytes => { const t = new DataTransfer(); t.items.add(new File([new Uint8Array(bytes)], 'map.png', {type: 'image/png'})); return t; }",
        list(PNG),
    )
    page.dispatch_event("main", "dragenter", {"dataTransfer": transfer})
    expect(page.locator("[data-drop-target]")).to_be_visible()
    page.dispatch_event("main", "drop", {"dataTransfer": transfer})
    expect(page.locator("[data-drop-target]")).to_be_hidden()
    expect(chips).to_have_text(["notes.txt", "map.png"])
    fits(page)
    llm.script("reply", deltas=["Got both."])
    send(page, "Here are my files")
    expect(bodies(page, "assistant")).to_have_text(["Got both."])
    expect(chips).to_have_count(0)  # the composer is empty again
    sent = llm.requests[-1]["body"]["messages"][-1]["content"]
    assert "Meet at noon." in sent and '"map.png"' in sent

    message = page.locator("#messages .msg-user")
    expect(message.locator(".attachment-name")).to_have_text(["Download notes.txt", "Download map.png"])
    thumbnail = message.locator(".attachment-image img")
    expect(thumbnail).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth === 48", arg=thumbnail.element_handle())
    page.reload()  # stored, not just shown
    expect(page.locator("#messages .msg-user .attachment")).to_have_count(2)
    page.wait_for_function("img => img.complete && img.naturalWidth === 48", arg=page.locator(".attachment-image img").element_handle())
    with page.expect_download() as download:
        page.get_by_role("link", name="Download notes.txt").click()
    assert download.value.suggested_filename == "notes.txt"
    assert Path(download.value.path()).read_bytes() == b"Meet at noon."

    # Another user gets a 404 for both the file and its thumbnail.
    paths = [page.locator(".attachment-name").nth(index).get_attribute("href") for index in range(2)]
    paths.append(page.locator(".attachment-image img").get_attribute("src"))
    other = new_page(browser)
    try:
        register(other, served.base)
        assert [other.request.get(served.base + path).status for path in paths] == [404, 404, 404]
        assert [page.request.get(served.base + path).status for path in paths] == [200, 200, 200]
    finally:
        other.context.close()
    assert email and page.problems == []  # type: ignore[attr-defined]


def test_without_javascript_regenerate_versions_edit_and_files_work(served, browser, llm):
    page = new_page(browser, java_script_enabled=False)
    try:
        register(page, served.base)
        llm.script("reply", deltas=["First."])
        page.get_by_label("Message", exact=True).fill("No script here")
        page.set_input_files("#composer-files", files=[{"name": "a.txt", "mimeType": "text/plain", "buffer": b"plain file"}])
        page.get_by_role("button", name="Send").click()
        expect(bodies(page, "assistant")).to_have_text(["First."])
        expect(page.locator(".attachment-name")).to_have_text(["Download a.txt"])
        llm.script("reply", deltas=["Second."])
        page.get_by_role("button", name="Regenerate this reply").click()
        expect(bodies(page, "assistant")).to_have_text(["Second."])
        assert label_of(page.locator("#messages .msg-assistant")) == "2/2"
        page.get_by_role("button", name="Previous version").click()
        expect(bodies(page, "assistant")).to_have_text(["First."])
        page.get_by_role("link", name="Edit this message").click()
        expect(page.get_by_role("heading", name="Edit message")).to_be_visible()
        page.get_by_label("Message").fill("Edited without a script")
        llm.script("reply", deltas=["Edited answer."])
        page.get_by_role("button", name="Send").click()
        expect(bodies(page, "user")).to_have_text(["Edited without a script"])
        expect(bodies(page, "assistant")).to_have_text(["Edited answer."])
        expect(page.locator(".attachment-name")).to_have_text(["Download a.txt"])  # the edit keeps its files
        assert label_of(page.locator("#messages .msg-user")) == "2/2"
    finally:
        page.context.close()

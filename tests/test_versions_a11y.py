"""Accessibility of versions and attachments in Chromium: axe-core finds no serious or critical
violation on a chat with `< k/n >` versions, Regenerate, Edit (in place and as a page) and files
(chips, thumbnails, the composer's chosen files, the drop target), in light and dark mode, on a
desktop and a phone. Also takes the README's picture of a chat with versions and files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatapp.extensions import db
from chatapp.services import chat_store
from support.browser import DESKTOP, PHONE, Served, check_axe, chromium, register, serve, watch
from support.sample_files import png

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=15_000)

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    # What is checked is the pages' markup and styles: SQLite and the offline responder are enough.
    with serve("sqlite", tmp_path_factory.mktemp("versions-a11y"), env={"ASSISTANT_BASE_URL": ""}) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def seed(served: Served, email: str) -> tuple[str, str]:
    """A chat whose first question was edited once and whose last reply was regenerated, with files."""
    user_id = served.user_id(email)
    with served.app.app_context():
        store = chat_store()
        thread_id = store.create_thread(user_id, title="Weekend in Lisbon").id
        add = lambda content, role, **kw: store.add_item(user_id, thread_id, role=role, content=content, **kw)[0]  # noqa: E731
        first = add("Plan a weekend in Rome", "user")
        add("Rome: the Forum on Saturday, Trastevere at night.", "assistant", parent_id=first.id, metadata={"in_reply_to": first.id, "status": "complete"})
        edited = add("Plan a weekend in Lisbon", "user", parent_id=None)
        add("Lisbon: Alfama on Saturday, Belém on Sunday.", "assistant", parent_id=edited.id, metadata={"in_reply_to": edited.id, "status": "complete"})
        photo = store.save_attachment(user_id, filename="tram-28.png", content_type="image/png", content=png(160, 100, (230, 180, 40)), thread_id=thread_id)
        notes = store.save_attachment(user_id, filename="itinerary-notes.txt", content_type="text/plain", content=b"Day 1: Alfama\n" * 40, thread_id=thread_id)
        question = add("Where should we eat near this tram stop?", "user", metadata={"attachments": [photo.id, notes.id]})
        meta = {"in_reply_to": question.id, "status": "complete"}
        add("Try the tascas on **Rua de São Tomé**: grilled sardines and *bifanas*.", "assistant", parent_id=question.id, metadata=meta)
        add("Near the stop, **Largo das Portas do Sol** has cafés with a view; for dinner, the tascas of Alfama.", "assistant", parent_id=question.id, metadata=meta)
        db.session.remove()
    return thread_id, question.id


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_versions_edits_and_files_are_free_of_serious_axe_violations(served, browser, scheme, viewport):
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = watch(page)
    found: dict[str, list[str]] = {}
    try:
        email = register(page, served.base, f"versions-{scheme}-{viewport['width']}@example.com")
        thread_id, question_id = seed(served, email)
        page.goto(f"{served.base}/t/{thread_id}")
        expect(page.locator(".version-label")).to_have_count(2)
        page.wait_for_function("() => [...document.querySelectorAll('.attachment img')].every(i => i.complete && i.naturalWidth > 0)")
        expect(page.get_by_role("button", name="Regenerate this reply")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        check_axe(page, "a chat with versions and files", found)
        if viewport is DESKTOP and scheme == "light":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "thread-versions.png"))

        page.locator(f"#{question_id}").get_by_role("link", name="Edit this message").click()
        expect(page.get_by_label("Edit your message")).to_be_focused()
        check_axe(page, "a message being edited", found)
        page.keyboard.press("Escape")

        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Attach files").click()
        chooser.value.set_files([{"name": "boarding-pass.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"}])
        expect(page.get_by_role("button", name="Remove boarding-pass.pdf")).to_be_visible()
        check_axe(page, "the composer with a file chosen", found)
        transfer = page.evaluate_handle("() => { const t = new DataTransfer(); t.items.add(new File(['x'], 'x.txt')); return t; }")
        page.dispatch_event("main", "dragenter", {"dataTransfer": transfer})
        expect(page.locator("[data-drop-target]")).to_be_visible()
        check_axe(page, "files dragged over the page", found)
        page.dispatch_event("main", "dragleave", {"dataTransfer": transfer})
        page.get_by_role("button", name="Remove boarding-pass.pdf").click()
        expect(page.locator("[data-file-chips]")).to_be_hidden()

        page.goto(f"{served.base}/t/{thread_id}/items/{question_id}/edit")
        check_axe(page, "the edit page", found)
    finally:
        context.close()
    assert found == {}, "\n".join(f"{where}:\n  " + "\n  ".join(lines) for where, lines in found.items())
    assert problems == []

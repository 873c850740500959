"""Assistant replies served for real: gunicorn, a client that drops the connection mid-stream, and
Chromium streaming a reply into the page (Playwright with Debian's /usr/bin/chromium)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from contextlib import closing

import pytest

from chatapp.extensions import db
from chatapp.services import chat_store
from support.api_client import make_token
from support.browser import CHROMIUM, CHROMIUM_ARGS
from support.databases import make_user
from support.servers import gunicorn_server

SLOW_DELTAS = [f"word{index} " for index in range(300)]



def items_of(app, user_id: str, thread_id: str):
    with app.app_context():
        items = chat_store().list_items(user_id, thread_id).data
        db.session.remove()
    return items


def new_thread(app, user_id: str) -> str:
    with app.app_context():
        thread = chat_store().create_thread(user_id)
        db.session.remove()
    return thread.id


def test_client_dropping_the_connection_midstream_saves_the_partial_reply(app, llm, tmp_path):
    user_id = make_user(app)
    token = make_token(app, user_id)
    thread_id = new_thread(app, user_id)
    llm.script("reply", deltas=SLOW_DELTAS, delay=0.05)
    env = {"ASSISTANT_BASE_URL": llm.base_url, "ASSISTANT_MODEL": "fake-model", "ASSISTANT_TIMEOUT": "5"}
    with gunicorn_server(app.config["SQLALCHEMY_DATABASE_URI"], str(tmp_path), env=env) as base:
        port = int(base.rsplit(":", 1)[1])
        body = json.dumps({"content": "Write a long answer", "stream": True}).encode()
        request = (
            f"POST /api/v1/threads/{thread_id}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        with closing(socket.create_connection(("127.0.0.1", port), timeout=20)) as sock:
            sock.sendall(request)
            received = b""
            while received.count(b"event: delta") < 3:
                chunk = sock.recv(4096)
                assert chunk, "the server closed the stream early"
                received += chunk
        # The client is gone. The server notices on its next write, stops the backend stream and
        # stores what it had; wait for that (bounded), without timing it.
        assert llm.client_gone.wait(30), "the backend stream was never closed"
        deadline = time.monotonic() + 30
        while len(items_of(app, user_id, thread_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert b"HTTP/1.1 200" in received and b"text/event-stream" in received
    user, assistant = items_of(app, user_id, thread_id)
    assert user.content == "Write a long answer"
    assert assistant.role == "assistant" and assistant.metadata["status"] == "incomplete"
    assert assistant.metadata["in_reply_to"] == user.id
    assert assistant.content.startswith("word0 word1 word2 ")
    assert len(assistant.content) < len("".join(SLOW_DELTAS))  # partial: the stream was cut short


def chromium_missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    return None


def test_browser_streams_the_reply_into_the_page_and_it_persists(app, tmp_path):
    if chromium_missing():
        pytest.skip(chromium_missing())
    from playwright.sync_api import expect, sync_playwright

    env = {"ASSISTANT_BASE_URL": ""}  # the offline demo responder, as `make run` uses
    with gunicorn_server(app.config["SQLALCHEMY_DATABASE_URI"], str(tmp_path), env=env) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))

            def on_console(message) -> None:  # script errors and CSP violations
                if message.type == "error" and "Failed to load resource" not in message.text:
                    errors.append(message.text)

            def on_response(response) -> None:  # failed requests, but the browser's favicon probe
                if response.status >= 400 and not response.url.endswith("/favicon.ico"):
                    errors.append(f"{response.status} {response.url}")

            page.on("console", on_console)
            page.on("response", on_response)
            email = f"b{secrets.token_hex(5)}@example.com"
            page.goto(base + "/register")
            page.fill("#email", email)
            page.fill("#password", "correct horse battery")
            page.click("button[type=submit]")
            page.wait_for_url(base + "/login")  # sign-up signs no one in: log in
            page.fill("#email", email)
            page.fill("#password", "correct horse battery")
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            # Record the streamed text as it grows, to see it arrive in parts.
            page.evaluate(
                """() => {
                  window.seenTexts = [];
                  new MutationObserver(() => {
                    const pending = document.querySelector('.msg-assistant.is-pending .msg-body');
                    if (pending && pending.textContent) window.seenTexts.push(pending.textContent);
                  }).observe(document.body, {subtree: true, childList: true, characterData: true});
                }"""
            )
            page.fill("#message", "How does streaming work?")
            page.keyboard.press("Enter")
            reply = page.locator(".msg-assistant").last
            expect(reply.locator(".reply-label")).to_have_text("Demo responder · offline, no model connected", timeout=20_000)
            expect(reply.locator(".msg-body")).to_contain_text("You asked: “How does streaming work?”")
            seen = page.evaluate("window.seenTexts")
            assert len(set(seen)) >= 3, seen  # it grew in the page before the final message
            # The live text is rendered Markdown: compare its words, not the whitespace between blocks.
            words = [" ".join(text.split()) for text in seen]
            assert all(later.startswith(earlier) for earlier, later in zip(words, words[1:], strict=False))
            page.reload()
            persisted = page.locator(".msg-assistant").last
            expect(persisted.locator(".msg-body")).to_contain_text("You asked: “How does streaming work?”")
            expect(persisted.locator(".reply-label")).to_be_visible()
            expect(page.locator(".msg-user .msg-body")).to_have_text(["How does streaming work?"])
            assert errors == [], errors  # no script errors, no CSP violations
        finally:
            browser.close()

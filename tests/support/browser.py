"""Helpers for the Chromium tests (Playwright with Debian's /usr/bin/chromium): how it is launched,
chatapp served under gunicorn for it, signing up and sending through the page, watching a page
for script errors and CSP violations, and axe-core checks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask

from chatapp.extensions import db
from chatapp.services import chat_store
from chatapp.store.accounts import AccountStore

from .databases import create_pg_database, drop_pg_database, make_app
from .servers import gunicorn_server, migrate

CHROMIUM = "/usr/bin/chromium"
# Headless as root on a machine with no network beyond loopback: no sandbox, no background calls.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"


class Served:
    """chatapp under gunicorn, plus an in-process app on the same database for seeding and reading."""

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

    def items(self, user_id: str, thread_id: str):
        with self.app.app_context():
            items = chat_store().list_items(user_id, thread_id, limit=100).data
            db.session.remove()
        return items


@contextmanager
def serve(backend: str, instance: Path, env: Mapping[str, str] | None = None) -> Iterator[Served]:
    """chatapp under gunicorn on a fresh migrated database of `backend` (sqlite or postgresql)."""
    url = f"sqlite:///{instance / 'chatapp.db'}" if backend == "sqlite" else create_pg_database()
    migrate(url, str(instance))
    app = make_app(url, str(instance))
    # Every test signs up from 127.0.0.1: more than the production limit on sign-ups per address.
    env = {"REGISTER_LIMIT_PER_ADDRESS": "1000 per minute", **(env or {})}
    try:
        with gunicorn_server(url, str(instance), env=env) as base:
            yield Served(base, app, backend)
    finally:
        with app.app_context():
            db.engine.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium for a module's tests (skipped, which fails under CI=true, when missing)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watch(page) -> list[str]:
    """Collect what must not happen on a page: script errors, CSP violations, failed requests, dialogs."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}") if message.type == "error" else None)
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    return problems


def register(page, base: str, email: str | None = None) -> str:
    email = email or f"b{secrets.token_hex(5)}@example.com"
    page.goto(base + "/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(base + "/login")  # the same notice for a new and a taken address: then log in
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    return email


def send(page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def axe_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations of `impacts` on the page as it is now, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())  # evaluated by the DevTools protocol: the page's CSP does not apply
    results = page.evaluate(
        """async () => {
          const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
          return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').split('\\n').slice(1, 2).join(''))}));
        }"""
    )
    return [f"{v['impact']} {v['id']}: {v['help']} -> {v['targets']}" for v in results if v["impact"] in impacts]


def check_axe(page, where: str, found: dict[str, list[str]]) -> None:
    """Record the page's serious axe violations in `found` under `where` (the tests assert it stays empty)."""
    violations = axe_violations(page)
    if violations:
        found[where] = violations

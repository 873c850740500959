"""An attacker cannot lock a real user out (issue #12, item 4): failed log-ins are counted per
(account, client address), per address and, with a much higher ceiling that never refuses an
address without failures, per account. Two client addresses behind one trusted proxy
(PROXY_FIX_X_FOR=1, as nginx sets X-Forwarded-For), on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets

from flask import Flask
from flask.testing import FlaskClient

from support.ui import PASSWORD, csrf_token, login, page_text, register

APP_CONFIG = {
    "PROXY_FIX_X_FOR": "1",
    "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "3 per minute",
    "LOGIN_LIMIT_PER_ACCOUNT": "6 per minute",
    "LOGIN_LIMIT_PER_ADDRESS": "10 per minute",
    "REGISTER_LIMIT_PER_ADDRESS": "1000 per minute",
}
WRONG = "not the password"


class Behind:
    """A browser whose requests reach chatapp through the proxy, which reports `address`."""

    def __init__(self, app: Flask, address: str, spoofed: str = ""):
        self.client: FlaskClient = app.test_client()
        # The proxy appends the peer it saw; a client's own X-Forwarded-For comes before it.
        self.client.environ_base["HTTP_X_FORWARDED_FOR"] = f"{spoofed}, {address}" if spoofed else address
        self.client.environ_base["REMOTE_ADDR"] = "127.0.0.1"  # the proxy itself

    def log_in(self, email: str, password: str) -> int:
        return login(self.client, email, password).status_code


def victim(app: Flask) -> str:
    return register(app.test_client(), f"victim-{secrets.token_hex(4)}@example.com")


def test_failures_from_one_address_do_not_lock_the_owner_out(app):
    email = victim(app)
    attacker, owner = Behind(app, "198.51.100.7"), Behind(app, "203.0.113.5")
    statuses = [attacker.log_in(email, WRONG) for _ in range(12)]
    assert statuses == [401] * 3 + [429] * 9  # LOGIN_LIMIT_PER_ACCOUNT_ADDRESS: 3 per minute
    throttled = login(attacker.client, email, PASSWORD)
    assert throttled.status_code == 429 and "Too many failed log-in attempts" in page_text(throttled)
    assert owner.log_in(email, PASSWORD) == 303  # before the fix: 429 for everyone


def test_failures_from_many_addresses_do_not_lock_the_owner_out(app):
    email = victim(app)
    for n in range(2):  # 2 addresses x 3 failures: the account's ceiling of 6
        assert [Behind(app, f"198.51.100.{20 + n}").log_in(email, WRONG) for _ in range(3)] == [401] * 3
    # Over the ceiling, an address that has failed for this account waits, before its own limit...
    third = Behind(app, "198.51.100.22")
    assert [third.log_in(email, WRONG) for _ in range(2)] == [401, 429]
    assert third.log_in(email, PASSWORD) == 429
    # ...while an address with no failure still gets its password checked: wrong is 401, right logs in.
    assert Behind(app, "198.51.100.99").log_in(email, WRONG) == 401
    assert Behind(app, "203.0.113.6").log_in(email, PASSWORD) == 303
    assert Behind(app, "198.51.100.22").log_in(f"other-{secrets.token_hex(3)}@example.com", WRONG) == 401  # other accounts: unaffected


def test_one_address_trying_many_accounts_is_throttled(app):
    sprayer = Behind(app, "198.51.100.50")
    for n in range(10):  # LOGIN_LIMIT_PER_ADDRESS: 10 per minute, whatever the accounts
        assert sprayer.log_in(f"guess{n}-{secrets.token_hex(3)}@example.com", WRONG) == 401
    email = victim(app)
    assert sprayer.log_in(email, PASSWORD) == 429
    assert Behind(app, "203.0.113.7").log_in(email, PASSWORD) == 303


def test_a_spoofed_forwarded_for_does_not_escape_the_count(app):
    email = victim(app)
    statuses = [Behind(app, "198.51.100.60", spoofed=f"10.9.9.{n}").log_in(email, WRONG) for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]  # counted under the address the proxy saw


def test_the_password_form_counts_wrong_current_passwords_the_same_way(app):
    owner = Behind(app, "203.0.113.8")
    email = victim(app)
    assert owner.log_in(email, PASSWORD) == 303
    form = csrf_token(owner.client, "/settings")
    answers = [
        owner.client.post("/settings/password", data={"current_password": WRONG, "new_password": "another passphrase", "csrf_token": form}).status_code
        for _ in range(4)
    ]
    assert answers == [400, 400, 400, 429]

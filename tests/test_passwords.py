"""The password rule (issue #12, item 7; OWASP ASVS 4.0.3 V2.1), one definition for sign-up, the
password change and `flask chat create-user`, shown beside every password field."""

from __future__ import annotations

import secrets

import pytest

from chatapp.errors import InvalidRequest
from chatapp.rules import MAX_PASSWORD_CHARS, PASSWORD_RULE, check_new_password, common_passwords
from support.ui import csrf_token, page_text, register

APP_CONFIG = {"REGISTER_LIMIT_PER_ADDRESS": "1000 per minute"}


@pytest.mark.parametrize(
    "password, reason",
    [
        (" " * 8, "at least 8"),  # eight spaces count as one
        ("a  b  c  d", "at least 8"),  # runs of spaces count once: 7
        ("short", "at least 8"),
        ("password", "too common"),
        ("Password1", "too common"),  # compared in lower case
        ("  qwertyuiop  ", "too common"),  # and without surrounding blanks
        ("iloveyou", "too common"),
        ("x" * (MAX_PASSWORD_CHARS + 1), "limited to 128"),
        ("pass\x00word!", "cannot be stored"),
        ("pass\ud800word!", "cannot be stored"),
    ],
)
def test_weak_or_unstorable_passwords_are_refused(password, reason):
    with pytest.raises(InvalidRequest, match=reason) as refused:
        check_new_password(password)
    assert refused.value.details == {"field": "password"}


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "eightch!", "ünïcødé pässwörd", "🔑🔑🔑🔑🔑🔑🔑🔑", "all lowercase words here", "x" * MAX_PASSWORD_CHARS],
)
def test_any_long_enough_uncommon_password_is_accepted_without_composition_rules(password):
    assert check_new_password(password) == password


def test_the_account_s_own_email_is_refused():
    with pytest.raises(InvalidRequest, match="too common"):
        check_new_password("Alice.Smith@Example.com", "alice.smith@example.com")
    with pytest.raises(InvalidRequest, match="too common"):
        check_new_password("alice.smith", "alice.smith@example.com")


def test_the_list_is_a_few_thousand_long_enough_entries():
    entries = common_passwords()
    assert 10_000 < len(entries) < 12_000
    assert {"password", "12345678", "baseball", "trustno1"} <= entries
    assert all(len(entry) >= 8 for entry in entries)


def test_sign_up_and_the_password_change_show_and_apply_the_rule(app):
    client = app.test_client()
    assert PASSWORD_RULE in page_text(client.get("/register"))
    weak = client.post("/register", data={"email": f"w{secrets.token_hex(4)}@example.com", "password": "password1", "csrf_token": csrf_token(client, "/register")})
    assert weak.status_code == 400 and "too common" in page_text(weak) and PASSWORD_RULE in page_text(weak)
    spaces = client.post("/register", data={"email": f"w{secrets.token_hex(4)}@example.com", "password": " " * 8, "csrf_token": csrf_token(client, "/register")})
    assert spaces.status_code == 400 and "at least 8 characters" in page_text(spaces)

    register(client)
    assert PASSWORD_RULE in page_text(client.get("/settings"))
    change = client.post(
        "/settings/password",
        data={"current_password": "correct horse battery", "new_password": "baseball", "csrf_token": csrf_token(client, "/settings")},
    )
    assert change.status_code == 400 and "too common" in page_text(change)


def test_create_user_on_the_command_line_applies_the_rule(runner):
    weak = runner.invoke(args=["chat", "create-user", f"cli{secrets.token_hex(3)}@example.com", "--password", "password"])
    assert weak.exit_code == 1 and "too common" in weak.output
    fine = runner.invoke(args=["chat", "create-user", f"cli{secrets.token_hex(3)}@example.com", "--password", "a fine long passphrase"])
    assert fine.exit_code == 0, fine.output

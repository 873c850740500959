"""Accounts: hashed passwords, uniform login failures, token hashes and revocation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from chatapp.errors import Conflict, InvalidRequest, NotFound
from chatapp.extensions import db
from chatapp.models import ApiToken, User
from chatapp.store.accounts import AccountStore, hash_token


@pytest.fixture
def accounts(app_context) -> AccountStore:
    return AccountStore(db.session)


def test_passwords_are_hashed_and_checked(accounts):
    user = accounts.create_user("Alice@Example.com", "a long password")
    assert user.email == "alice@example.com"
    stored = db.session.scalar(sa.select(User.password_hash).where(User.id == user.id))
    assert "a long password" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
    assert accounts.authenticate("alice@example.com", "a long password").id == user.id
    assert accounts.authenticate("alice@example.com", "wrong password") is None
    assert accounts.authenticate("nobody@example.com", "a long password") is None
    with pytest.raises(Conflict):
        accounts.create_user("alice@example.com", "another password")
    with pytest.raises(InvalidRequest):
        accounts.create_user("not-an-email", "a long password")


def test_tokens_are_stored_as_hashes_and_revocable(accounts, user_id):
    record, plain = accounts.create_token(user_id, "ci")
    stored = db.session.scalar(sa.select(ApiToken.token_hash).where(ApiToken.id == record.id))
    assert stored == hash_token(plain) and plain not in stored
    assert accounts.user_for_token(plain) == user_id
    assert accounts.user_for_token(plain + "x") is None
    assert accounts.user_for_token("garbage") is None
    accounts.revoke_token(user_id, record.id)
    assert accounts.user_for_token(plain) is None
    with pytest.raises(NotFound):
        accounts.revoke_token(user_id, record.id)


def test_external_users_are_provisioned_once(accounts):
    first = accounts.ensure_external_user("host-user-42")
    assert accounts.ensure_external_user("host-user-42") == first
    assert accounts.ensure_external_user("host-user-43") != first
    with pytest.raises(InvalidRequest):
        accounts.ensure_external_user("")

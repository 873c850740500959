"""A tiny JSON API client over Flask's test client, and helpers to make users with tokens."""

from __future__ import annotations

from typing import Any

from flask import Flask

from chatapp.extensions import db
from chatapp.store.accounts import AccountStore

from .databases import make_user

BASE = "/api/v1"


def make_token(app: Flask, user_id: str) -> str:
    """A new API token for the user; returns its plain text."""
    with app.app_context():
        _, plain = AccountStore(db.session).create_token(user_id, "tests")
        db.session.remove()
    return plain


class ApiClient:
    """Requests to /api/v1 with one user's Bearer token; paths are relative to /api/v1."""

    def __init__(self, app: Flask, user_id: str | None = None):
        self.app = app
        self.user_id = user_id or make_user(app)
        self.token = make_token(app, self.user_id)
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, **kwargs: Any):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(BASE + path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any):
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("DELETE", path, **kwargs)

    # -- shortcuts that assert success ------------------------------------------------------

    def new_thread(self, **body: Any) -> dict[str, Any]:
        response = self.post("/threads", json=body)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()

    def new_item(self, thread_id: str, content: Any = "hello", role: str = "user", **body: Any) -> dict[str, Any]:
        response = self.post(f"/threads/{thread_id}/items", json={"role": role, "content": content, **body})
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()


def assert_error(response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The response is `status` with the one error shape, `code`, and (optionally) `field`."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert error["details"]["field"] == field, error
    return error

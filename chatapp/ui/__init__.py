"""The server-rendered chat UI: accounts, chats, their messages, versions and files, search,
export and import, and settings."""

from flask import Blueprint

bp = Blueprint("ui", __name__)

from . import attachments, auth, data, rendering, replies, settings, threads, versions  # noqa: E402,F401 - registers the views

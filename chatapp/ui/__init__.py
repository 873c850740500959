"""The server-rendered chat UI: accounts, chats, their messages, versions and files, and API token settings."""

from flask import Blueprint

bp = Blueprint("ui", __name__)

from . import attachments, auth, rendering, replies, settings, threads, versions  # noqa: E402,F401 - registers the views

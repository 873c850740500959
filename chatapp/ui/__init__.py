"""The server-rendered chat UI: accounts, chats and their messages, and API token settings."""

from flask import Blueprint

bp = Blueprint("ui", __name__)

from . import auth, rendering, replies, settings, threads  # noqa: E402,F401 - registers the views

"""The server-rendered chat UI: accounts, chats and their messages, search, export and import, and settings."""

from flask import Blueprint

bp = Blueprint("ui", __name__)

from . import auth, data, rendering, replies, settings, threads  # noqa: E402,F401 - registers the views

"""The server-rendered chat UI."""

from flask import Blueprint, render_template

bp = Blueprint("ui", __name__)


@bp.get("/")
def index():
    """A landing page until the chat UI lands."""
    return render_template("landing.html")

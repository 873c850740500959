"""The WSGI entry point (gunicorn wsgi:app, flask --app wsgi): loads .env, then builds the app."""

from chatapp import create_app
from chatapp.settings import load_env_file
from chatapp.startup import exit_on_startup_error

# A configuration error ends the process with its one-line message, not a traceback.
with exit_on_startup_error():
    load_env_file()
    app = create_app()

"""The WSGI entry point: loads .env, then builds the app (gunicorn wsgi:app, flask --app wsgi)."""

from dotenv import load_dotenv

load_dotenv()

from chatapp import create_app  # noqa: E402 - .env must be loaded first

app = create_app()

"""Where chatapp's files are: templates, static files and migrations, the instance folder and .env."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# A checkout keeps templates/, static/ and migrations/ beside the package; an installed wheel
# carries them inside it (pyproject.toml).
RESOURCE_DIR = PACKAGE_DIR if (PACKAGE_DIR / "templates").is_dir() else PACKAGE_DIR.parent
INSTALLED = RESOURCE_DIR == PACKAGE_DIR
TEMPLATES_DIR = RESOURCE_DIR / "templates"
STATIC_DIR = RESOURCE_DIR / "static"
MIGRATIONS_DIR = RESOURCE_DIR / "migrations"
ENV_FILE_VARIABLE = "CHATAPP_ENV_FILE"
INSTANCE_PATH_VARIABLE = "CHATAPP_INSTANCE_PATH"


def project_dir() -> Path:
    """The checkout chatapp runs from; for an installed package, the working directory."""
    return Path.cwd() if INSTALLED else PACKAGE_DIR.parent


def instance_path() -> Path:
    """CHATAPP_INSTANCE_PATH, or instance/ in the project directory: the SQLite fallback and the
    development SECRET_KEY live there."""
    named = os.environ.get(INSTANCE_PATH_VARIABLE, "").strip()
    return Path(named) if named else project_dir() / "instance"


def env_file() -> Path:
    """The .env file to load: CHATAPP_ENV_FILE, or .env in the working directory.

    Every documented start (make, boot.sh, systemd's WorkingDirectory, a Procfile) runs in the
    project directory, and an installed package has no checkout to look in.
    """
    named = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    return Path(named) if named else Path.cwd() / ".env"

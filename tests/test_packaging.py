"""pyproject.toml: the wheel carries templates, static files and migrations, and an installed
chatapp works outside the checkout; its requirements agree with the pinned requirements.txt."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from support.servers import ROOT


def pinned(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line of a requirements file."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            requirement = Requirement(line)
            pins[requirement.name.lower()] = next(iter(requirement.specifier)).version
    return pins


def test_pyproject_requires_what_requirements_txt_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {Requirement(text).name.lower(): Requirement(text) for text in project["dependencies"]}
    pins = pinned(ROOT / "requirements.txt")
    assert set(required) == set(pins)
    for name, requirement in required.items():
        assert requirement.specifier.contains(pins[name]), f"requirements.txt pins {name}=={pins[name]} outside {requirement}"
    chatkit = Requirement(project["optional-dependencies"]["chatkit"][0])
    assert chatkit.specifier.contains(pinned(ROOT / "requirements-chatkit.txt")[chatkit.name])


def test_the_installed_package_serves_pages_and_migrates_outside_the_checkout(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=120,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("chatapp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for resource in ("chatapp/templates/base.html", "chatapp/static/chat.js", "chatapp/migrations/env.py", "chatapp/migrations/alembic.ini"):
        assert resource in names
    assert any(name.startswith("chatapp/migrations/versions/0001_") for name in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)

    # A fresh interpreter in another directory, with the unpacked wheel as its only chatapp.
    probe = f"""
import chatapp
assert chatapp.__file__.startswith({str(site)!r}), chatapp.__file__
from flask_migrate import upgrade
app = chatapp.create_app({{"CHATAPP_ENV": "development", "instance_path": {str(tmp_path / "instance")!r}}})
with app.app_context():
    upgrade()
client = app.test_client()
print(client.get("/login").status_code, client.get("/static/chat.js").status_code, client.get("/readyz").get_json()["status"])
"""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "200", "ok"]

"""Docs that run as written: every snippet in README.md and docs/*.md marked with a
`<!-- runnable ... -->` comment is run here, against a fresh database and a served app."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from support.databases import TEST_SECRET_KEY
from support.servers import BIN, ROOT, served_on_postgres

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = re.compile(r"<!-- runnable[^>]*-->\s*\n```(sh|python)\n(.*?)\n```", re.S)


def runnable_snippets() -> list[tuple[str, str, str]]:
    """(doc name, language, code) of every snippet marked runnable."""
    found = []
    for doc in DOCS:
        for language, code in RUNNABLE.findall(doc.read_text()):
            found.append((doc.name, language, code))
    return found


SNIPPETS = runnable_snippets()


def test_the_docs_mark_their_runnable_snippets():
    names = {doc for doc, _, _ in SNIPPETS}
    assert {"API.md", "CHATKIT.md"} <= names, names


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with served_on_postgres(str(tmp_path_factory.mktemp("docs"))) as running:
        yield running


@pytest.mark.parametrize(
    "doc, language, code", SNIPPETS, ids=[f"{doc}-{n}" for n, (doc, _, _) in enumerate(SNIPPETS)]
)
def test_a_runnable_snippet_runs_as_written(served, doc, language, code):
    env = {
        **os.environ,
        "BASE": served["base"] + "/api/v1",
        "TOKEN": served["token"],
        "DATABASE_URL": served["url"],
        "CHATAPP_INSTANCE_PATH": served["instance"],
        "SECRET_KEY": TEST_SECRET_KEY,
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    command = ["bash", "-euo", "pipefail", "-c", code] if language == "sh" else [str(BIN / "python"), "-c", code]
    result = subprocess.run(command, cwd=Path(ROOT), env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{doc}:\n{code}\n--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr
    if "stream\": true" in code:
        assert "event: assistant" in result.stdout
    if "create-token" in code:
        assert result.stdout.strip().startswith("chat_")

"""The vendored browser libraries: every file is the one scripts/vendor.sh recorded, and the pages use them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = [ROOT / "static" / "vendor" / "MANIFEST", ROOT / "tests" / "vendor" / "MANIFEST"]


def manifest_entries() -> list[tuple[str, str, str, str]]:
    """(package, version, sha256, path) for every line of both manifests."""
    entries = []
    for manifest in MANIFESTS:
        for line in manifest.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            fields = line.split(" ")
            entries.append((fields[0], fields[1], fields[-2], fields[-1]))
    return entries


@pytest.mark.parametrize("package, version, sha256, path", manifest_entries(), ids=lambda value: str(value)[:40])
def test_vendored_file_matches_its_manifest(package, version, sha256, path):
    assert hashlib.sha256((ROOT / path).read_bytes()).hexdigest() == sha256, f"{path} changed: run scripts/vendor.sh"


def test_every_vendored_file_is_in_a_manifest():
    listed = {path for *_rest, path in manifest_entries()}
    on_disk = {
        str(file.relative_to(ROOT))
        for folder in (ROOT / "static" / "vendor", ROOT / "tests" / "vendor")
        for file in folder.rglob("*")
        if file.is_file() and file.name != "MANIFEST"
    }
    assert on_disk == listed


def test_versions_in_the_manifest_are_the_ones_the_script_pins():
    script = (ROOT / "scripts" / "vendor.sh").read_text()
    for package, version, _sha, _path in manifest_entries():
        assert f'"{package} {version} ' in script, (package, version)
    assert "DOMPurify 3.5.0" in (ROOT / "static/vendor/dompurify/purify.min.js").read_text()[:200]
    assert "axe v4.14.1" in (ROOT / "tests/vendor/axe-core/axe.min.js").read_text()[:200]


def test_every_vendored_script_has_its_license_beside_it():
    for _package, _version, _sha, path in manifest_entries():
        if path.endswith(".js"):
            assert (ROOT / path).with_name("LICENSE").is_file(), path

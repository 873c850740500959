"""chatapp served by a real gunicorn: it starts on a migrated database and answers."""

from __future__ import annotations

import json
import urllib.request

from support.servers import gunicorn_server, migrate


def test_gunicorn_serves_health_and_readiness(tmp_path):
    url = f"sqlite:///{tmp_path / 'served.db'}"
    migrate(url, str(tmp_path))
    with gunicorn_server(url, str(tmp_path)) as base:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as response:
            assert response.status == 200
            assert json.load(response) == {"status": "ok"}

"""The shared fixtures (loaded by tests/conftest.py): an app per test module on SQLite and on real
PostgreSQL, its clients and users, a local model server, a PostgreSQL database behind a link
proxy, and the rule that under CI=true a skip is a failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from chatapp.extensions import db

from .databases import BACKENDS, IN_CI, create_pg_database, drop_pg_database, make_app, make_user
from .fake_llm import FakeLLM
from .pgproxy import PgProxy


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skip is a failure: the PostgreSQL and browser tests must run there."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, tmp_path_factory) -> Iterator[Flask]:
    """A migrated app per module and backend."""
    instance = tmp_path_factory.mktemp("instance")
    if request.param == "sqlite":
        url = f"sqlite:///{instance / 'chatapp.db'}"
    else:
        url = create_pg_database()
    application = make_app(url, str(instance), **getattr(request.module, "APP_CONFIG", {}))
    with application.app_context():
        upgrade()
    try:
        yield application
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        if request.param == "postgresql":
            drop_pg_database(url)


@pytest.fixture
def backend(app: Flask) -> str:
    with app.app_context():
        return db.engine.dialect.name


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def app_context(app: Flask):
    with app.app_context() as ctx:
        yield ctx
        db.session.remove()


@pytest.fixture
def user_id(app: Flask) -> str:
    return make_user(app)


@pytest.fixture
def other_user_id(app: Flask) -> str:
    return make_user(app)


@pytest.fixture(scope="module")
def llm(request) -> Iterator[FakeLLM]:
    """A local OpenAI-compatible model server, on the module's LLM_PORT when it names one (for an
    APP_CONFIG that points there), else on a free port (`llm.base_url`)."""
    server = FakeLLM(getattr(request.module, "LLM_PORT", None)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pg_proxy() -> Iterator[PgProxy]:
    """A throwaway PostgreSQL database reached through a PgProxy (`pg_proxy.database_url`), which
    counts the round trips and can delay or break the link."""
    url = make_url(create_pg_database())
    with PgProxy(url.host, url.port or 5432) as running:
        running.database_url = url.set(port=running.port).render_as_string(hide_password=False)
        yield running
    drop_pg_database(url.render_as_string(hide_password=False))

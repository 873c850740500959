"""Read replicas without a database: DATABASE_REPLICA_URLS and its settings, positions, the process
memory of users' writes, lag measured from primary samples, and the docs naming every variable."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from chatapp import create_app
from chatapp.config import ConfigError, load_settings
from chatapp.consistency import HEADER, replica_set
from chatapp.positions import PINNED, WritePositions, format_lsn, later, parse_lsn
from chatapp.replicas import ReplicaSet, is_connection_failure
from chatapp.settings import ReplicaSettings
from support.databases import TEST_SECRET_KEY
from support.servers import ROOT

PRIMARY = "postgresql://app:secret@db.internal:5432/chat"
NEON_REPLICA = "postgres://app:secret@ep-quiet-replica-654321-pooler.eu-central-1.aws.neon.tech/neondb"


def settings(tmp_path, **values):
    return load_settings(str(tmp_path), {"SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": PRIMARY, **values}).values


def test_replica_urls_are_normalized_like_database_url(tmp_path):
    values = settings(tmp_path, DATABASE_REPLICA_URLS=f" {NEON_REPLICA} , postgresql://app:secret@replica-2.internal/chat ")
    first, second = values["DB_REPLICA_URIS"]
    assert first == NEON_REPLICA.replace("postgres://", "postgresql+psycopg2://") + "?sslmode=require"
    assert second == "postgresql+psycopg2://app:secret@replica-2.internal/chat"
    assert (values["DB_REPLICAS"].pool_size, values["DB_REPLICAS"].wait_ms, values["DB_REPLICAS"].max_lag_seconds) == (5, 50, 5.0)
    assert settings(tmp_path)["DB_REPLICA_URIS"] == []
    assert settings(tmp_path, DATABASE_REPLICA_URLS=" ")["DB_REPLICA_URIS"] == []


@pytest.mark.parametrize(
    "values, message",
    [
        ({"DATABASE_REPLICA_URLS": "mysql://app@replica/chat"}, "DATABASE_REPLICA_URLS entry 1 has the scheme 'mysql'"),
        ({"DATABASE_REPLICA_URLS": f"{NEON_REPLICA}?sslmode=disable"}, "DATABASE_REPLICA_URLS entry 1 sets sslmode=disable"),
        ({"DATABASE_REPLICA_URLS": "postgresql://a@r1/chat,,postgresql://a@r2/chat"}, "DATABASE_REPLICA_URLS has an empty entry (number 2)"),
        ({"DATABASE_REPLICA_URLS": "postgresql://a@r1/chat,::nonsense::"}, "DATABASE_REPLICA_URLS entry 2 is not a valid database URL"),
        ({"DATABASE_REPLICA_URLS": PRIMARY}, "DATABASE_REPLICA_URLS entry 1 is DATABASE_URL itself"),
        ({"DATABASE_REPLICA_URLS": "postgresql://a@r1/chat,postgresql://a@r1/chat"}, "DATABASE_REPLICA_URLS names postgresql+psycopg2://a@r1/chat twice"),
        ({"DATABASE_REPLICA_URLS": "sqlite:///copy.db"}, "DATABASE_REPLICA_URLS entry 1 is not a postgresql:// URL"),
        ({"DATABASE_URL": "", "DATABASE_REPLICA_URLS": "postgresql://a@r1/chat"}, "DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL"),
        ({"DB_REPLICA_WAIT_MS": "-1"}, 'DB_REPLICA_WAIT_MS must be between 0 and 10000, got "-1"'),
        ({"DB_REPLICA_MAX_LAG_SECONDS": "0"}, 'DB_REPLICA_MAX_LAG_SECONDS must be > 0, got "0"'),
        ({"DB_REPLICA_POOL_SIZE": "none"}, 'DB_REPLICA_POOL_SIZE must be an integer, got "none"'),
    ],
)
def test_a_bad_replica_setting_is_one_line_naming_it(tmp_path, values, message):
    with pytest.raises(ConfigError) as refused:
        settings(tmp_path, **values)
    assert str(refused.value).startswith(message), str(refused.value)
    assert "\n" not in str(refused.value) and "secret" not in str(refused.value)


def test_the_startup_line_names_the_replicas_with_their_passwords_masked(tmp_path):
    logged = load_settings(str(tmp_path), {"SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": PRIMARY, "DATABASE_REPLICA_URLS": NEON_REPLICA})
    assert logged.database.startswith("Database: postgresql+psycopg2://app:***@db.internal:5432/chat; read replicas: ")
    assert "ep-quiet-replica-654321-pooler" in logged.database and "secret" not in logged.database


def test_an_app_with_replicas_has_a_pool_per_replica_and_connects_to_nothing(tmp_path):
    app = create_app({
        "DATABASE_URL": "postgresql://app@127.0.0.1:1/chat", "SECRET_KEY": TEST_SECRET_KEY, "instance_path": str(tmp_path),
        "DATABASE_REPLICA_URLS": "postgresql://app@127.0.0.1:2/chat,postgresql://app@127.0.0.1:3/chat",
        "DB_REPLICA_POOL_SIZE": "7",
    })
    replicas = replica_set(app)
    try:
        assert [replica.engine.pool.size() for replica in replicas.replicas] == [7, 7]
        assert [replica.name for replica in replicas.replicas] == [
            "read replica 1 (postgresql+psycopg2://app@127.0.0.1:2/chat)", "read replica 2 (postgresql+psycopg2://app@127.0.0.1:3/chat)"
        ]
        assert all(replica.in_rotation and replica.replay is None for replica in replicas.replicas)
        assert replicas._thread is None  # the probe starts with the first read
    finally:
        replicas.close()


def test_a_malformed_position_header_is_refused_even_without_replicas(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "SECRET_KEY": TEST_SECRET_KEY, "instance_path": str(tmp_path)})
    assert replica_set(app) is None
    refused = app.test_client().get("/healthz", headers={HEADER: "16/B374D848/1"})
    assert refused.status_code == 400 and HEADER in refused.get_json()["error"]["message"]
    assert app.test_client().get("/healthz", headers={HEADER: "16/B374D848"}).status_code == 200


def test_positions_parse_format_and_merge():
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    assert parse_lsn("0/0") == 0 and format_lsn(0) == "0/0"
    for bad in ("", "16", "16/", "/1", "G/1", "1/2/3", "123456789/0", " 0/1", "0/1\n"):
        assert parse_lsn(bad) is None, bad
    assert later(None, 5, 3) == 5 and later(None, None) is None


def test_the_process_memory_keeps_each_users_latest_write_and_stays_bounded():
    now = [100.0]
    memory = WritePositions(limit=3, clock=lambda: now[0])
    memory.remember("u1", 10)
    memory.remember("u1", 5)  # an older position never replaces a newer one
    assert memory.get("u1") == 10 and memory.get("u2") is None and memory.get(None) is None
    for user, position in (("u2", 20), ("u3", 30), ("u4", 40)):
        memory.remember(user, position)
    assert len(memory) == 3 and memory.get("u1") is None  # the least recently written went first
    assert memory.forget_replayed(30) == 2 and memory.get("u4") == 40
    memory.pin("u5", 2.0)
    assert memory.get("u5") == PINNED
    now[0] += 2.5
    assert memory.get("u5") is None


def fake_set(clock) -> ReplicaSet:
    engine = sa.create_engine("postgresql+psycopg2://app@127.0.0.1:1/chat")
    return ReplicaSet(engine, [("replica", sa.create_engine("postgresql+psycopg2://app@127.0.0.1:2/chat"))],
                      wait_ms=0, max_lag_seconds=5, clock=clock)


def test_lag_is_measured_from_the_primarys_positions_over_time():
    now = [0.0]
    replicas = fake_set(lambda: now[0])
    assert replicas.lag_of(0, 0.0) is None  # no sample of the primary yet: unknown
    replicas.sample(100, 1.0)
    replicas.sample(100, 2.0)  # the same position, known later: a tighter bound
    replicas.sample(200, 3.0)
    replicas.sample(150, 3.5)  # an older answer arriving late changes nothing
    assert replicas.lag_of(200, 3.2) == pytest.approx(0.2)  # caught up with the last sample
    assert replicas.lag_of(150, 4.0) == pytest.approx(2.0)  # has everything acknowledged before t=2
    assert replicas.lag_of(50, 4.0) == pytest.approx(2.0)  # behind every sample: at least since the oldest
    replicas.sample(300, 100.0)  # samples older than the lag limit plus three probe periods are dropped
    assert replicas.lag_of(250, 100.5) == pytest.approx(100.5 - 100.0)


def test_choosing_a_replica_for_a_position_uses_the_cached_replay_position():
    now = [0.0]
    replicas = fake_set(lambda: now[0])
    replicas._start = lambda: None  # no probe thread: the test sets what the probe would see
    replica = replicas.replicas[0]
    assert replicas.choose(None) is replica
    assert replicas.choose(10) is None  # unknown replay position, no wait: the primary
    replica.observe(10, 1.0)
    assert replicas.choose(10) is replica and replicas.choose(11) is None
    assert replicas.choose(PINNED) is None
    replica.in_rotation = False
    assert replicas.choose(None) is None


def test_only_a_replica_that_cannot_serve_at_all_leaves_the_rotation():
    import psycopg2

    refused = sa.exc.OperationalError("SELECT 1", {}, psycopg2.OperationalError("connection refused"))
    assert is_connection_failure(refused)
    assert is_connection_failure(psycopg2.InterfaceError("connection already closed"))  # the probe's raw errors
    assert not is_connection_failure(sa.exc.TimeoutError("QueuePool limit reached"))
    assert not is_connection_failure(sa.exc.ProgrammingError("SELECT", {}, psycopg2.ProgrammingError("syntax")))


def test_the_docs_and_env_example_name_every_replica_variable():
    names = {field.validation_alias for field in ReplicaSettings.model_fields.values()}
    example = (ROOT / ".env.example").read_text()
    deploy = (ROOT / "docs" / "DEPLOY.md").read_text()
    readme = (ROOT / "README.md").read_text()
    table = lambda text: set(re.findall(r"^\| `([A-Z_]+)`", text, re.MULTILINE))  # noqa: E731
    assert names == {"DATABASE_REPLICA_URLS", "DB_REPLICA_POOL_SIZE", "DB_REPLICA_WAIT_MS", "DB_REPLICA_MAX_LAG_SECONDS"}
    assert names <= set(re.findall(r"^# ([A-Z_]+)=", example, re.MULTILINE))
    assert names <= table(deploy) and names <= table(readme)

"""The seed notes' legacy schemas (their DDL and models, per backend) and helpers around them.

`create(engine, seeds)` makes the tables as the seed notes wrote them (PostgreSQL) or as close
as SQLite comes; `insert` writes rows the way the legacy apps did; `table_digest` shows a source
was left unchanged; `report_rows` reads the import's summary. The sample rows themselves are in
legacy_samples.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

T0 = datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=UTC)
TIE = T0 + timedelta(minutes=5)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- DDL: as the seed notes wrote it (PostgreSQL), and the nearest SQLite can hold -------------------

DDL = {
    "000/001": {
        "postgresql": [
            """CREATE TABLE chatkit_thread (id VARCHAR(255) PRIMARY KEY, "userId" VARCHAR(255) NOT NULL,
               metadata JSONB DEFAULT '{}', "createdAt" TIMESTAMPTZ DEFAULT NOW(), "updatedAt" TIMESTAMPTZ DEFAULT NOW())""",
            """CREATE TABLE chatkit_thread_item (id VARCHAR(255) PRIMARY KEY,
               "threadId" VARCHAR(255) REFERENCES chatkit_thread(id) ON DELETE CASCADE, type VARCHAR(50),
               content JSONB, "createdAt" TIMESTAMPTZ DEFAULT NOW())""",
            """CREATE TABLE chatkit_attachment (id VARCHAR(255) PRIMARY KEY, "threadId" VARCHAR(255),
               content JSONB, "createdAt" TIMESTAMPTZ DEFAULT NOW())""",
            'CREATE INDEX idx_thread_user ON chatkit_thread("userId")',
            'CREATE INDEX idx_item_thread ON chatkit_thread_item("threadId")',
        ],
        "sqlite": [
            """CREATE TABLE chatkit_thread (id VARCHAR(255) PRIMARY KEY, "userId" VARCHAR(255) NOT NULL,
               metadata TEXT DEFAULT '{}', "createdAt" TIMESTAMP, "updatedAt" TIMESTAMP)""",
            """CREATE TABLE chatkit_thread_item (id VARCHAR(255) PRIMARY KEY,
               "threadId" VARCHAR(255) REFERENCES chatkit_thread(id) ON DELETE CASCADE, type VARCHAR(50),
               content TEXT, "createdAt" TIMESTAMP)""",
            """CREATE TABLE chatkit_attachment (id VARCHAR(255) PRIMARY KEY, "threadId" VARCHAR(255),
               content TEXT, "createdAt" TIMESTAMP)""",
        ],
    },
    "002": {
        "postgresql": [
            "CREATE TABLE threads (id VARCHAR(100) PRIMARY KEY, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, metadata JSONB)",
            """CREATE TABLE thread_items (id VARCHAR(100) PRIMARY KEY, thread_id VARCHAR(100) REFERENCES threads(id),
               type VARCHAR(20), role VARCHAR(20), content TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)""",
        ],
        "sqlite": [  # the seed's SQLAlchemy models on its SQLite fallback: JSON is text there
            "CREATE TABLE threads (id VARCHAR(100) PRIMARY KEY, created_at DATETIME, metadata JSON)",
            """CREATE TABLE thread_items (id VARCHAR(100) PRIMARY KEY, thread_id VARCHAR(100) REFERENCES threads(id),
               type VARCHAR(20), role VARCHAR(20), content TEXT, created_at DATETIME)""",
        ],
    },
    "003": {
        "postgresql": [
            """CREATE TABLE chatkit_threads (id VARCHAR(32) PRIMARY KEY, user_id VARCHAR(255) NOT NULL, title VARCHAR(500),
               metadata_json TEXT NOT NULL DEFAULT '{}', created_at TIMESTAMPTZ DEFAULT now(), updated_at TIMESTAMPTZ DEFAULT now())""",
            """CREATE TABLE chatkit_thread_items (id VARCHAR(32) PRIMARY KEY,
               thread_id VARCHAR(32) NOT NULL REFERENCES chatkit_threads(id) ON DELETE CASCADE,
               item_json TEXT NOT NULL, sort_key INTEGER NOT NULL DEFAULT 0, created_at TIMESTAMPTZ DEFAULT now())""",
            """CREATE TABLE chatkit_attachments (id VARCHAR(32) PRIMARY KEY,
               thread_id VARCHAR(32) REFERENCES chatkit_threads(id) ON DELETE CASCADE, filename VARCHAR(500),
               content_type VARCHAR(255), size_bytes INTEGER, metadata_json TEXT NOT NULL DEFAULT '{}',
               created_at TIMESTAMPTZ DEFAULT now())""",
            "CREATE INDEX ix_items_thread_sort ON chatkit_thread_items (thread_id, sort_key)",
        ],
        "sqlite": [
            """CREATE TABLE chatkit_threads (id VARCHAR(32) PRIMARY KEY, user_id VARCHAR(255) NOT NULL, title VARCHAR(500),
               metadata_json TEXT NOT NULL DEFAULT '{}', created_at DATETIME, updated_at DATETIME)""",
            """CREATE TABLE chatkit_thread_items (id VARCHAR(32) PRIMARY KEY,
               thread_id VARCHAR(32) NOT NULL REFERENCES chatkit_threads(id) ON DELETE CASCADE,
               item_json TEXT NOT NULL, sort_key INTEGER NOT NULL DEFAULT 0, created_at DATETIME)""",
            """CREATE TABLE chatkit_attachments (id VARCHAR(32) PRIMARY KEY, thread_id VARCHAR(32) REFERENCES chatkit_threads(id),
               filename VARCHAR(500), content_type VARCHAR(255), size_bytes INTEGER, metadata_json TEXT NOT NULL DEFAULT '{}',
               created_at DATETIME)""",
        ],
    },
    "004": {
        "postgresql": [
            """CREATE TABLE chat_sessions (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), session_id VARCHAR(255) UNIQUE NOT NULL,
               created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(), last_activity TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
               metadata JSONB DEFAULT '{}'::jsonb)""",
            """CREATE TABLE chat_messages (id BIGSERIAL PRIMARY KEY,
               session_id VARCHAR(255) NOT NULL REFERENCES chat_sessions(session_id) ON DELETE CASCADE,
               role VARCHAR(50) NOT NULL, content TEXT NOT NULL, sources JSONB DEFAULT '[]'::jsonb, confidence FLOAT,
               tokens_used INTEGER, created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
               CONSTRAINT valid_role CHECK (role IN ('user', 'assistant')))""",
            "CREATE INDEX idx_chat_messages_session_id ON chat_messages(session_id)",
        ],
        "sqlite": [
            """CREATE TABLE chat_sessions (id CHAR(32) PRIMARY KEY, session_id VARCHAR(255) UNIQUE NOT NULL,
               created_at DATETIME, last_activity DATETIME, metadata JSON DEFAULT '{}')""",
            """CREATE TABLE chat_messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
               session_id VARCHAR(255) NOT NULL REFERENCES chat_sessions(session_id), role VARCHAR(50) NOT NULL,
               content TEXT NOT NULL, sources JSON DEFAULT '[]', confidence FLOAT, tokens_used INTEGER, created_at DATETIME)""",
        ],
    },
}


def create(engine: sa.Engine, seeds: list[str]) -> None:
    with engine.begin() as conn:
        for seed in seeds:
            for statement in DDL[seed][engine.dialect.name]:
                conn.exec_driver_sql(statement)


def value(engine: sa.Engine, raw: Any, json_column: bool = False) -> Any:
    """A value as the legacy app would have written it on this backend."""
    if isinstance(raw, datetime):
        # TIMESTAMP columns (seed 002) hold naive UTC; SQLite holds text.
        return raw.replace(tzinfo=None).isoformat(" ") if engine.dialect.name == "sqlite" else raw
    if json_column and raw is not None and not isinstance(raw, str):
        return json.dumps(raw, ensure_ascii=False)
    return raw


def insert(engine: sa.Engine, table: str, rows: list[dict[str, Any]], json_columns: tuple[str, ...] = ()) -> None:
    """Insert rows with their columns quoted as written (camelCase stays camelCase)."""
    if not rows:
        return
    with engine.begin() as conn:
        for row in rows:
            columns = list(row)
            cast = "CAST(:{} AS jsonb)" if engine.dialect.name == "postgresql" else ":{}"
            placeholders = [
                cast.format(f"p{i}") if name in json_columns else f":p{i}" for i, name in enumerate(columns)
            ]
            statement = sa.text(
                f'INSERT INTO {table} ({", ".join(chr(34) + c + chr(34) for c in columns)}) VALUES ({", ".join(placeholders)})'
            )
            conn.execute(statement, {f"p{i}": value(engine, row[c], c in json_columns) for i, c in enumerate(columns)})


def table_digest(engine: sa.Engine, tables: list[str]) -> dict[str, list]:
    """Every row of the tables (text as bytes: some is not UTF-8), to show an import changed nothing."""
    connection = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            connection.driver_connection.text_factory = bytes
        cursor = connection.cursor()
        digest = {}
        for table in tables:
            cursor.execute(f"SELECT * FROM {table} ORDER BY 1")
            digest[table] = [tuple(map(repr, row)) for row in cursor.fetchall()]
        return digest
    finally:
        connection.close()


def report_rows(output: str) -> dict[str, list[int]]:
    """`flask chat import-legacy`'s summary: legacy table -> [read, imported, already there,
    skipped, changed]."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("table "))
    rows = {}
    for line in lines[start + 1:]:
        parts = line.split()
        if len(parts) != 6 or not parts[1].isdigit():
            break
        rows[parts[0]] = [int(part) for part in parts[1:]]
    return rows

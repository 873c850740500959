"""full-text search: a tsvector column + GIN index (PostgreSQL), an FTS5 table + triggers (SQLite)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

What is searchable, defined here once per backend: a string content (messages), or the text
parts of a JSON object's `content`: a string, or the `text` of each object in an array (how
ChatKit items keep their text). JSON keys, ids and metadata are never indexed.

PostgreSQL: the text search configuration `chatapp_search` is `simple` (lowercase words, no
stemming, no stop words: right for any language and script, Hindi and Hinglish included) with
`unaccent` in front when the extension can be installed (cafe finds café). `search_vector` is a
generated column, so every write keeps it current; adding it rewrites thread_items once.

SQLite: `thread_items_fts` (FTS5, unicode61 tokenizer without diacritics, combining marks kept
inside words so Devanagari vowel signs do not split them) holds each item's
searchable text under the item's rowid, kept in sync by triggers; the control characters
\\x01 and \\x02 are left out of it (search snippets use them as markers).
"""
import logging

from alembic import op

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")  # printed once, with the migration lines

SEARCH_TEXT_FUNCTION = r"""
CREATE OR REPLACE FUNCTION chatapp_search_text(content jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- A zero-width space after each '<' keeps the parser from reading "<script>" or "<div ...>"
    -- as an HTML tag, which it would leave out of the index: code in messages stays findable.
    SELECT replace(CASE jsonb_typeof(content)
        WHEN 'string' THEN content #>> '{}'
        WHEN 'object' THEN CASE jsonb_typeof(content -> 'content')
            WHEN 'string' THEN content ->> 'content'
            WHEN 'array' THEN (
                SELECT string_agg(part ->> 'text', E'\n')
                FROM jsonb_array_elements(content -> 'content') AS part
                WHERE jsonb_typeof(part -> 'text') = 'string'
            )
        END
    END, '<', '<' || U&'\200B')
$$
"""

# The same rule for SQLite, on the JSON text of {column}.content.
SQLITE_SEARCH_TEXT = """replace(replace(CASE json_type({column}.content)
    WHEN 'text' THEN json_extract({column}.content, '$')
    WHEN 'object' THEN CASE json_type({column}.content, '$.content')
        WHEN 'text' THEN json_extract({column}.content, '$.content')
        WHEN 'array' THEN (
            SELECT group_concat(json_extract(part.value, '$.text'), char(10))
            FROM json_each({column}.content, '$.content') AS part
            WHERE CASE WHEN part.type = 'object' THEN json_type(part.value, '$.text') = 'text' ELSE 0 END
        )
    END
END, char(1), ''), char(2), '')"""


def _sqlite_index(row: str, source: str = "") -> str:
    """Index the searchable text of `row` (`new` in a trigger, or every row of `source`)."""
    text = SQLITE_SEARCH_TEXT.format(column=row)
    return (
        f"INSERT INTO thread_items_fts (rowid, body) SELECT {row}.rowid, {text} {source}"
        f" WHERE coalesce({text}, '') <> ''"
    )


def _upgrade_postgresql():
    bind = op.get_bind()
    unaccent = False
    if bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'").first():
        savepoint = bind.begin_nested()
        try:
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
            savepoint.commit()
            unaccent = True
        except Exception as exc:  # no privilege: search works without folding accents
            savepoint.rollback()
            log.warning("full-text search without unaccent (CREATE EXTENSION failed: %s)", str(exc).splitlines()[0])
    else:
        log.warning("full-text search without unaccent: the extension is not available on this server")
    op.execute("CREATE TEXT SEARCH CONFIGURATION chatapp_search (COPY = simple)")
    if unaccent:
        op.execute(
            "ALTER TEXT SEARCH CONFIGURATION chatapp_search "
            "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple"
        )
    op.execute(SEARCH_TEXT_FUNCTION)
    op.execute(
        "ALTER TABLE thread_items ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
        "(to_tsvector('chatapp_search'::regconfig, coalesce(chatapp_search_text(content), ''))) STORED"
    )
    op.execute("CREATE INDEX ix_thread_items_search_vector ON thread_items USING gin (search_vector)")


def _upgrade_sqlite():
    op.execute(
        # Marks (M*) are word characters too: Devanagari vowel signs must not split a word.
        "CREATE VIRTUAL TABLE thread_items_fts USING fts5(body, "
        "tokenize = \"unicode61 remove_diacritics 2 categories 'L* N* Co M*'\")"
    )
    insert = _sqlite_index("new")
    op.execute(f"CREATE TRIGGER thread_items_fts_insert AFTER INSERT ON thread_items BEGIN {insert}; END")
    op.execute(
        "CREATE TRIGGER thread_items_fts_delete AFTER DELETE ON thread_items BEGIN "
        "DELETE FROM thread_items_fts WHERE rowid = old.rowid; END"
    )
    op.execute(
        "CREATE TRIGGER thread_items_fts_update AFTER UPDATE OF content ON thread_items BEGIN "
        f"DELETE FROM thread_items_fts WHERE rowid = old.rowid; {insert}; END"
    )
    op.execute(_sqlite_index("thread_items", "FROM thread_items"))


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_thread_items_search_vector")
        op.execute("ALTER TABLE thread_items DROP COLUMN IF EXISTS search_vector")
        op.execute("DROP FUNCTION IF EXISTS chatapp_search_text(jsonb)")
        op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS chatapp_search")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS thread_items_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS thread_items_fts")

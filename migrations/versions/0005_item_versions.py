"""item versions: thread_items.parent_id, threads.leaf_id, and chatapp_append_item() that sets them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10

A thread's items form a tree: each item names the item it follows (`parent_id`, NULL for a
first item). An edited message or a regenerated reply is a sibling of the item it replaces, so
the old branch stays. `threads.leaf_id` is the last item of the branch the thread shows; every
append moves it to the new item. Existing threads become single branches: each item's parent is
the item before it by seq, and the leaf is the newest item.

chatapp_append_item() gains the parent (the thread's leaf unless the caller names one, which
must be an item of the thread) and moves the leaf, still in one call under the thread row's lock.
"""
import importlib.util
from pathlib import Path

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

OLD_SIGNATURE = "text, text, text, text, text, jsonb, jsonb, timestamptz, timestamptz, text"
NEW_SIGNATURE = OLD_SIGNATURE + ", text, boolean"

APPEND_ITEM_FUNCTION = """
CREATE OR REPLACE FUNCTION chatapp_append_item(
    p_user_id text, p_thread_id text, p_id text, p_type text, p_role text,
    p_content jsonb, p_metadata jsonb, p_created_at timestamptz, p_now timestamptz, p_title text,
    p_parent_id text, p_parent_given boolean
)
RETURNS TABLE (
    outcome text, seq bigint, parent_id text, type text, role text, content jsonb, metadata jsonb,
    created_at timestamptz, same_body boolean
)
LANGUAGE plpgsql
-- Custom plans, as in 0002: a generic plan made while the tables were empty once picked the
-- (thread_id, seq) index for the id lookup and scanned the whole thread on every append.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_last_seq bigint;
    v_leaf text;
    v_parent text;
BEGIN
    -- The owner check and the lock that orders appends (and leaf moves) in this thread.
    SELECT t.last_seq, t.leaf_id INTO v_last_seq, v_leaf FROM threads AS t
    WHERE t.id = p_thread_id AND t.user_id = p_user_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;  -- no row: the thread is missing or another user's
    END IF;
    -- A re-sent id: compared (the parent only when the caller named one), not stored again.
    RETURN QUERY
        SELECT 'exists'::text, i.seq, i.parent_id::text, i.type::text, i.role::text, i.content,
               i.metadata, i.created_at,
               (i.type = p_type AND i.role IS NOT DISTINCT FROM p_role AND i.content = p_content
                AND coalesce(i.metadata, '{}'::jsonb) = p_metadata
                AND (NOT p_parent_given OR i.parent_id IS NOT DISTINCT FROM p_parent_id))
        FROM thread_items AS i
        WHERE i.thread_id = p_thread_id AND i.id = p_id;
    IF FOUND THEN
        RETURN;
    END IF;
    IF p_parent_given THEN
        v_parent := p_parent_id;
        IF v_parent IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM thread_items AS i WHERE i.thread_id = p_thread_id AND i.id = v_parent
        ) THEN
            RETURN QUERY SELECT 'no_parent'::text, NULL::bigint, NULL::text, NULL::text, NULL::text,
                NULL::jsonb, NULL::jsonb, NULL::timestamptz, NULL::boolean;
            RETURN;
        END IF;
    ELSE
        v_parent := v_leaf;
    END IF;
    UPDATE threads AS t
    SET last_seq = v_last_seq + 1, updated_at = p_now, title = coalesce(t.title, p_title), leaf_id = p_id
    WHERE t.id = p_thread_id;
    INSERT INTO thread_items (thread_id, id, seq, type, role, content, metadata, created_at, parent_id)
    VALUES (p_thread_id, p_id, v_last_seq + 1, p_type, p_role, p_content, p_metadata, p_created_at, v_parent);
    -- The caller has the rest of the new item already.
    RETURN QUERY SELECT 'created'::text, v_last_seq + 1, v_parent, NULL::text, NULL::text, NULL::jsonb,
        NULL::jsonb, NULL::timestamptz, NULL::boolean;
END
$$
"""


def upgrade():
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leaf_id', sa.String(length=64), nullable=True))
    with op.batch_alter_table('thread_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_thread_items_thread_id_parent_id_seq', ['thread_id', 'parent_id', 'seq'], unique=False)
    # Every existing thread is one branch: each item follows the one before it by seq.
    op.execute(
        "UPDATE thread_items SET parent_id = (SELECT p.id FROM thread_items AS p"
        " WHERE p.thread_id = thread_items.thread_id AND p.seq < thread_items.seq ORDER BY p.seq DESC LIMIT 1)"
    )
    op.execute(
        "UPDATE threads SET leaf_id = (SELECT i.id FROM thread_items AS i"
        " WHERE i.thread_id = threads.id ORDER BY i.seq DESC LIMIT 1)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS chatapp_append_item({OLD_SIGNATURE})")
        op.execute(APPEND_ITEM_FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS chatapp_append_item({NEW_SIGNATURE})")
        op.execute(_revision_0002().APPEND_ITEM_FUNCTION)
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35 has it): a batch operation would copy
    # and drop `threads`, and dropping a table with foreign keys on deletes its items (CASCADE).
    op.drop_index('ix_thread_items_thread_id_parent_id_seq', table_name='thread_items')
    op.drop_column('thread_items', 'parent_id')
    op.drop_column('threads', 'leaf_id')


def _revision_0002():
    """Migration 0002's module, for the function it created (file names are not importable)."""
    path = Path(__file__).with_name("0002_append_item_function.py")
    spec = importlib.util.spec_from_file_location("chatapp_migration_0002", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

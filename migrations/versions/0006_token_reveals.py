"""token_reveals: a new API token's plain text, kept for the one page view that shows it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

The settings form redirects after creating a token (POST-redirect-GET), so a reload cannot
create a second one; the page it lands on deletes the row as it shows the token. Rows go with
their session (logging out) and with their token. Additive: old code ignores the table.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('token_reveals',
    sa.Column('session_id', sa.String(length=64), nullable=False),
    sa.Column('token_id', sa.String(length=64), nullable=False),
    sa.Column('plain', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['user_sessions.id'], name=op.f('fk_token_reveals_session_id_user_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_token_reveals_token_id_api_tokens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_token_reveals'))
    )
    with op.batch_alter_table('token_reveals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_token_reveals_token_id'), ['token_id'], unique=False)


def downgrade():
    with op.batch_alter_table('token_reveals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_token_reveals_token_id'))
    op.drop_table('token_reveals')

"""search index: entries (records and alerts) and their match and blocking keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('search_entries',
    sa.Column('id', BIGINT, autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('ref', sa.String(length=200), nullable=False),
    sa.Column('owner', sa.String(length=20), nullable=False),
    sa.Column('handling', sa.String(length=2), nullable=False),
    sa.Column('schema', sa.String(length=64), nullable=False),
    sa.Column('person', sa.JSON(), nullable=True),
    sa.Column('encoding', sa.Text(), nullable=True),
    sa.Column('indexed_at', accord.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_entries')),
    sa.UniqueConstraint('source', 'ref', name=op.f('uq_search_entries_source'))
    )
    with op.batch_alter_table('search_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_entries_owner'), ['owner'], unique=False)

    op.create_table('search_keys',
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('entry_id', BIGINT, nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['search_entries.id'],
                            name=op.f('fk_search_keys_entry_id_search_entries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('kind', 'key', 'source', 'entry_id', name=op.f('pk_search_keys'))
    )
    with op.batch_alter_table('search_keys', schema=None) as batch_op:
        batch_op.create_index('ix_search_keys_entry_id', ['entry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('search_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_search_keys_entry_id')
    op.drop_table('search_keys')
    with op.batch_alter_table('search_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_entries_owner'))
    op.drop_table('search_entries')

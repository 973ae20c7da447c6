"""search privacy-preserving mode: linkage secrets held, person encodings and keyed tokens per key

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('search_linkage_secrets',
    sa.Column('agreement', sa.String(length=100), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('created_at', accord.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('indexed_at', accord.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('retired_at', accord.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('agreement', 'epoch', name=op.f('pk_search_linkage_secrets')),
    sa.UniqueConstraint('key_id', name=op.f('uq_search_linkage_secrets_key_id'))
    )
    op.create_table('search_linkage_entries',
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('entry_id', BIGINT, nullable=False),
    sa.Column('encodings', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['search_entries.id'],
                            name=op.f('fk_search_linkage_entries_entry_id_search_entries'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key_id', 'entry_id', name=op.f('pk_search_linkage_entries'))
    )
    op.create_table('search_linkage_tokens',
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('entry_id', BIGINT, nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['search_entries.id'],
                            name=op.f('fk_search_linkage_tokens_entry_id_search_entries'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key_id', 'kind', 'token', 'entry_id',
                            name=op.f('pk_search_linkage_tokens'))
    )
    with op.batch_alter_table('search_linkage_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_search_linkage_tokens_entry_id', ['entry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('search_linkage_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_search_linkage_tokens_entry_id')
    op.drop_table('search_linkage_tokens')
    op.drop_table('search_linkage_entries')
    op.drop_table('search_linkage_secrets')

"""records: FtM entities with owner, handling code, evaluation, retention

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 09:22:43.759239
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('records',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('schema', sa.String(length=64), nullable=False),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('caption', sa.String(length=500), nullable=False),
    sa.Column('owner', sa.String(length=20), nullable=False),
    sa.Column('handling', sa.String(length=2), nullable=False),
    sa.Column('source_reliability', sa.String(length=1), nullable=False),
    sa.Column('info_credibility', sa.String(length=1), nullable=False),
    sa.Column('legal_basis', sa.String(length=500), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('retention_until', sa.Date(), nullable=False),
    sa.Column('cases', sa.JSON(), nullable=False),
    sa.Column('provenance', sa.Text(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', accord.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', accord.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('flagged_at', accord.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('flag_reason', sa.String(length=100), nullable=True),
    sa.Column('audit_idx', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['owner'], ['agencies.id'], name=op.f('fk_records_owner_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_records'))
    )
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_records_caption'), ['caption'], unique=False)
        batch_op.create_index(batch_op.f('ix_records_flagged_at'), ['flagged_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_records_handling'), ['handling'], unique=False)
        batch_op.create_index(batch_op.f('ix_records_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_records_retention_until'), ['retention_until'], unique=False)
        batch_op.create_index(batch_op.f('ix_records_schema'), ['schema'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_records_schema'))
        batch_op.drop_index(batch_op.f('ix_records_retention_until'))
        batch_op.drop_index(batch_op.f('ix_records_owner'))
        batch_op.drop_index(batch_op.f('ix_records_handling'))
        batch_op.drop_index(batch_op.f('ix_records_flagged_at'))
        batch_op.drop_index(batch_op.f('ix_records_caption'))

    op.drop_table('records')

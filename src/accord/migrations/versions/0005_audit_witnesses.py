"""audit witnesses (checkpoints held for peers, cosignatures, alarms)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('audit_witnessed',
    sa.Column('origin', sa.String(length=200), nullable=False),
    sa.Column('peer_id', sa.String(length=100), nullable=False),
    sa.Column('size', BIGINT, nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('cosignature', sa.Text(), nullable=False),
    sa.Column('cosigned_at', accord.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('origin', name=op.f('pk_audit_witnessed'))
    )
    with op.batch_alter_table('audit_witnessed', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_witnessed_peer_id'), ['peer_id'], unique=False)

    op.create_table('audit_witness_states',
    sa.Column('peer_id', sa.String(length=100), nullable=False),
    sa.Column('size', BIGINT, nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('cosigned_note', sa.Text(), nullable=True),
    sa.Column('cosigned_at', accord.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempted_at', accord.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('peer_id', name=op.f('pk_audit_witness_states'))
    )

    op.create_table('audit_alarms',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('raised_at', accord.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('origin', sa.String(length=200), nullable=False),
    sa.Column('peer_id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('held_size', BIGINT, nullable=False),
    sa.Column('held_root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('held_note', sa.Text(), nullable=False),
    sa.Column('presented_size', BIGINT, nullable=False),
    sa.Column('presented_root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('presented_note', sa.Text(), nullable=False),
    sa.Column('proof', sa.JSON(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('key_id', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_alarms'))
    )
    with op.batch_alter_table('audit_alarms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_alarms_origin'), ['origin'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_alarms_raised_at'), ['raised_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_alarms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_alarms_raised_at'))
        batch_op.drop_index(batch_op.f('ix_audit_alarms_origin'))
    op.drop_table('audit_alarms')
    op.drop_table('audit_witness_states')
    with op.batch_alter_table('audit_witnessed', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_witnessed_peer_id'))
    op.drop_table('audit_witnessed')

"""alerts: the alerts a node holds (own and foreign copies) and the hit follow-ups

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, accord.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=20), nullable=False),
    sa.Column('origin', sa.String(length=7), nullable=False),
    sa.Column('issuer', sa.String(length=20), nullable=False),
    sa.Column('issuer_officer', sa.String(length=200), nullable=False),
    sa.Column('issuer_node', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('subject', sa.JSON(), nullable=False),
    sa.Column('subject_schema', sa.String(length=64), nullable=False),
    sa.Column('subject_caption', sa.String(length=500), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('remarks', sa.Text(), nullable=False),
    sa.Column('crime_area', sa.String(length=10), nullable=True),
    sa.Column('handling', sa.String(length=2), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    _when('valid_until'),
    _when('review_at'),
    sa.Column('state', sa.String(length=10), nullable=False),
    _when('created_at'),
    _when('received_at', True),
    _when('withdrawn_at', True),
    sa.Column('withdrawn_reason', sa.Text(), nullable=True),
    _when('expired_at', True),
    sa.Column('envelope_id', sa.String(length=128), nullable=True),
    sa.Column('decision', sa.JSON(), nullable=True),
    sa.Column('propagation', sa.JSON(), nullable=False),
    sa.Column('reminded', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('alert_id', 'holder', name='uq_alerts_copy')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        for column in ('alert_id', 'holder', 'issuer', 'valid_until', 'review_at', 'state'):
            batch_op.create_index(batch_op.f(f'ix_alerts_{column}'), [column], unique=False)

    op.create_table('alert_hits',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('hit_id', sa.String(length=32), nullable=False),
    sa.Column('alert_id', sa.String(length=32), nullable=False),
    sa.Column('issuer', sa.String(length=20), nullable=False),
    sa.Column('reporter', sa.String(length=20), nullable=False),
    sa.Column('officer', sa.String(length=200), nullable=False),
    sa.Column('node_id', sa.String(length=100), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('ref', sa.String(length=200), nullable=True),
    sa.Column('band', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    _when('at'),
    _when('answer_due'),
    sa.Column('deadline_source', sa.String(length=300), nullable=False),
    sa.Column('handling', sa.String(length=2), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('envelope_id', sa.String(length=128), nullable=True),
    sa.Column('message_id', sa.String(length=32), nullable=True),
    sa.Column('basis', sa.String(length=300), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_hits')),
    sa.UniqueConstraint('hit_id', name=op.f('uq_alert_hits_hit_id'))
    )
    with op.batch_alter_table('alert_hits', schema=None) as batch_op:
        for column in ('alert_id', 'issuer', 'reporter', 'at'):
            batch_op.create_index(batch_op.f(f'ix_alert_hits_{column}'), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert_hits', schema=None) as batch_op:
        for column in ('alert_id', 'issuer', 'reporter', 'at'):
            batch_op.drop_index(batch_op.f(f'ix_alert_hits_{column}'))
    op.drop_table('alert_hits')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        for column in ('alert_id', 'holder', 'issuer', 'valid_until', 'review_at', 'state'):
            batch_op.drop_index(batch_op.f(f'ix_alerts_{column}'))
    op.drop_table('alerts')

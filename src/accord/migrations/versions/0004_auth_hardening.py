"""hardening of login and officers (TOTP replay, enrolment, session lifetime, audit credential)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:40:00

Officers get the enrolment columns and the last accepted TOTP step; officers
that exist already were enrolled the old way, so they count as enrolled at
their creation time. Audit entries get the credential (session or API token)
that acted; existing entries get "" and hash as before (``entry_bytes`` leaves
an empty credential out).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enrolment_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('enrolment_expires_at', accord.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('enrolled_at', accord.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('last_totp_step',
                                      sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
    op.execute("UPDATE officers SET enrolled_at = created_at")
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credential', sa.String(length=80), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_column('credential')
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.drop_column('last_totp_step')
        batch_op.drop_column('enrolled_at')
        batch_op.drop_column('enrolment_expires_at')
        batch_op.drop_column('enrolment_hash')

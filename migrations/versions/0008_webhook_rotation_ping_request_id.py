"""webhooks: secret rotation, ping events, the request id of an event, re-sends

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_secret', sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column(
                'previous_secret_expires_at', models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))
        batch_op.alter_column('alert_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.alter_column('patient_id', existing_type=sa.Uuid(), nullable=True)
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('retry_from', models.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_column('retry_from')
    op.execute("DELETE FROM outbox_events WHERE alert_id IS NULL OR patient_id IS NULL")
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.alter_column('patient_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.alter_column('alert_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column('request_id')
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('previous_secret_expires_at')
        batch_op.drop_column('previous_secret')

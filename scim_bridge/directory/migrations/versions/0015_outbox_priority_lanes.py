"""outbox priority lanes: leavers first

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 04:00:00.000000

Issue 14 ("Leavers first"): a deactivation or deletion is a security event and must never wait
behind a bulk onboarding or a reconcile repair. Each outbox row carries the lane its most urgent
pending change asked for (directory/outbox.py ``Lane``: 0 deprovisioning, 1 changes to existing
people, 2 creations and repairs); the translator claims the lowest lane first. One index on
(lane, first_changed_at) serves the claim and the per-lane gauges read at every /metrics
scrape (count and oldest change per lane from the index alone: at 100,000 waiting rows a
GROUP BY over the table took ~0.4 s on SQLite, these take ~25 ms).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        # Rows waiting now were recorded without a lane: the bulk lane, as before (oldest first).
        batch_op.add_column(sa.Column("lane", sa.Integer(), server_default="2", nullable=False))
        batch_op.create_index(
            "ix_outbox_lane_first_changed_at", ["lane", "first_changed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_lane_first_changed_at")
        batch_op.drop_column("lane")

"""outbox keeps the time of the first unapplied change

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:10:00.000000

``changed_at`` moves with every new change; the sync-lag histogram and the oldest-change gauge
(issue 12) need the first change the translator has not applied yet, which the upsert in
directory/outbox.py keeps in ``first_changed_at``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
    # Rows waiting now: their latest change time is the best evidence left of the first one.
    op.execute("UPDATE outbox SET first_changed_at = changed_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "first_changed_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        # /metrics reads the oldest at every scrape: a min over an index, not a table scan.
        batch_op.create_index(
            batch_op.f("ix_outbox_first_changed_at"), ["first_changed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_first_changed_at"))
        batch_op.drop_column("first_changed_at")

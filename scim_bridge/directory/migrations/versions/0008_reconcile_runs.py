"""reconcile runs: every reconcile's result, and the row that makes it run alone

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:00:00.000000

Issue 10 ("accuracy recorded"): each reconcile stores when it ran, what it compared, its drift
by kind and the contact accuracy, with the DingTalk calls it estimated and made (the monthly
budget is summed from them). A run not finished whose lease has not expired is the lock that
keeps a second reconcile from starting in another process.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconcile_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("compared", sa.Integer(), nullable=False),
        sa.Column("accuracy_percent", sa.Float(), nullable=True),
        sa.Column(
            "drift",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("calls_estimated", sa.Integer(), nullable=False),
        sa.Column("calls_made", sa.Integer(), nullable=False),
        sa.Column("slice_cursor", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_runs")),
    )
    with op.batch_alter_table("reconcile_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconcile_runs_started_at"), ["started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reconcile_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconcile_runs_started_at"))
    op.drop_table("reconcile_runs")

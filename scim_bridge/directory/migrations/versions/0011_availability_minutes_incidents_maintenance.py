"""availability minutes, incidents and maintenance windows

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-07 00:54:42.643575

Issue 12, "availability, measured honestly": per-minute UTC counts of our DingTalk calls by
how they ended (several processes add into one row; ``availability_flushes`` makes a retried
batch add nothing), the DingTalk-side failures by API and code, the incidents opened and closed
from the down minutes, the declared maintenance windows, and the sync lag of the changes
projected each minute as histogram buckets for the monthly report (monitor/availability.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "availability_failures",
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("api", sa.String(length=128), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "api", "code", name=op.f("pk_availability_failures")),
    )
    op.create_table(
        "availability_flushes",
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("flushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_availability_flushes")),
    )
    with op.batch_alter_table("availability_flushes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_availability_flushes_flushed_at"), ["flushed_at"], unique=False
        )

    op.create_table(
        "availability_minutes",
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("transient", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("throttled", sa.Integer(), nullable=False),
        sa.Column("banned", sa.Integer(), nullable=False),
        sa.Column("probe_ok", sa.Integer(), nullable=False),
        sa.Column("probe_failed", sa.Integer(), nullable=False),
        sa.Column("probe_refused", sa.Integer(), nullable=False),
        sa.Column("down", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("minute", name=op.f("pk_availability_minutes")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("down_minutes", sa.Integer(), nullable=False),
        sa.Column(
            "apis",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "errcodes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_started_at"), ["started_at"], unique=False)

    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    with op.batch_alter_table("maintenance_windows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_maintenance_windows_starts_at"), ["starts_at"], unique=False
        )
    op.create_table(
        "sync_lag_minutes",
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("le", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "le", name=op.f("pk_sync_lag_minutes")),
    )


def downgrade() -> None:
    op.drop_table("sync_lag_minutes")
    with op.batch_alter_table("maintenance_windows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_maintenance_windows_starts_at"))

    op.drop_table("maintenance_windows")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_started_at"))

    op.drop_table("incidents")
    op.drop_table("availability_minutes")
    with op.batch_alter_table("availability_flushes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_availability_flushes_flushed_at"))

    op.drop_table("availability_flushes")
    op.drop_table("availability_failures")

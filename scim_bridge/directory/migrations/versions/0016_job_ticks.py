"""job ticks: scheduled singletons run once per tick across hosts

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 04:00:00.000000

Issue 14 (scale-out): every worker process schedules every job; a singleton job's run first
inserts its (job, tick) row, and only the process whose insert succeeded runs the tick. A
host-local file lock cannot do that for workers on two hosts; this table can, on SQLite and
PostgreSQL alike, and keeps who ran each tick.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_ticks",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("tick", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("job", "tick", name=op.f("pk_job_ticks")),
    )


def downgrade() -> None:
    op.drop_table("job_ticks")

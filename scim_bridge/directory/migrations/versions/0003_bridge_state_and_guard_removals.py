"""bridge state and guard removals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 05:55:09.515625
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "bridge_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bridge_state")),
    )
    op.create_table(
        "guard_removals",
        sa.Column("scim_id", sa.String(length=36), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scim_id", name=op.f("pk_guard_removals")),
    )
    with op.batch_alter_table("guard_removals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_guard_removals_proposed_at"), ["proposed_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("guard_removals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guard_removals_proposed_at"))

    op.drop_table("guard_removals")
    op.drop_table("bridge_state")

"""token rate limits: per-token overrides and the shared GCRA state

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:00:00.000000

Issue 14: each SCIM token may carry its own rate (requests per second), burst and cap on
concurrent requests (NULL: the settings' defaults). ``token_rate_state`` holds the one number
GCRA needs per token, shared by every API process on PostgreSQL. It is UNLOGGED there: it is
rewritten on every request, and losing it in a crash only forgets who was near their limit,
so its writes need neither WAL nor a flush at commit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_per_second", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("rate_burst", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_concurrent", sa.Integer(), nullable=True))
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "token_rate_state",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["tokens.id"],
            name=op.f("fk_token_rate_state_token_id_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_token_rate_state")),
        prefixes=unlogged,
    )


def downgrade() -> None:
    op.drop_table("token_rate_state")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("max_concurrent")
        batch_op.drop_column("rate_burst")
        batch_op.drop_column("rate_per_second")

"""dingtalk_events: contact-change pushes stored by the callback endpoint, drained by the worker

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 01:10:00.000000

Issue 10 (DingTalk change events): the endpoint only stores what DingTalk pushed (a web request
never calls DingTalk); the worker's event job queues a targeted reconcile and records the
outcome. (nonce, signed_at) is unique so a replayed push is refused; event_id is unique so a
push DingTalk retries is stored once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dingtalk_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("user_ids", JSON_DOC, nullable=False),
        sa.Column("dept_ids", JSON_DOC, nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.String(length=20), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dingtalk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_dingtalk_events_event_id")),
        sa.UniqueConstraint("nonce", "signed_at", name=op.f("uq_dingtalk_events_nonce")),
    )
    with op.batch_alter_table("dingtalk_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dingtalk_events_processed_at"), ["processed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dingtalk_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dingtalk_events_processed_at"))
    op.drop_table("dingtalk_events")

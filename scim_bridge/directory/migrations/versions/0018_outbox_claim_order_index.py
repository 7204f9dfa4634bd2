"""outbox: an index in the claim's order

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 13:20:00.000000

Issue 14 (the API's throughput with the translator on): the worker's claim takes the first due
rows by lane, resource type, due time and id (sync/claims.py). No index had that order, so
every claim sorted every due row: 7.7 ms of CPU at 10,000 rows waiting (an onboarding), and on
SQLite inside the one writer's turn the API's writes wait for. With this index the claim reads
the first rows of it.
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_claim_order",
        "outbox",
        ["lane", "resource_type", "available_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_claim_order", table_name="outbox")

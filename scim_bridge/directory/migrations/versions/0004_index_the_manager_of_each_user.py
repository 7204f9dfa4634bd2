"""index the manager of each user

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 06:22:24.217983
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manager_id", sa.String(length=256), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_manager_id"), ["manager_id"], unique=False)
    # Backfill from the stored documents (the same rule as directory/users.py's _index).
    users = sa.table("users", sa.column("id", sa.String), sa.column("data", sa.JSON))
    bind = op.get_bind()
    for user_id, data in bind.execute(sa.select(users.c.id, users.c.data)).all():
        manager = ((data or {}).get(ENTERPRISE_USER) or {}).get("manager") or {}
        value = manager.get("value") if isinstance(manager, dict) else None
        if value not in (None, ""):
            bind.execute(
                sa.text("UPDATE users SET manager_id = :m WHERE id = :i"),
                {"m": str(value)[:256], "i": user_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_manager_id"))
        batch_op.drop_column("manager_id")

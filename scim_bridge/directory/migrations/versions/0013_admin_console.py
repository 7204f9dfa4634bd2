"""admin console: admin users, login failures, console actions

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-07 01:00:00.000000

The console (issue 13) signs people in apart from the SCIM tokens (``admin_users``, scrypt
hashes only), throttles guessing across every process (``login_failures``), and turns every
operator action into a row the worker carries out (``console_actions``): a web request never
calls DingTalk.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_users")),
        sa.UniqueConstraint("name", name=op.f("uq_admin_users_name")),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failures_account"), ["account"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failures_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failures_at"), ["at"], unique=False)
    op.create_table(
        "console_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_actions")),
    )
    with op.batch_alter_table("console_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_actions_done_at"), ["done_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_console_actions_requested_at"), ["requested_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("console_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_actions_requested_at"))
        batch_op.drop_index(batch_op.f("ix_console_actions_done_at"))
    op.drop_table("console_actions")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_at"))
        batch_op.drop_index(batch_op.f("ix_login_failures_address"))
        batch_op.drop_index(batch_op.f("ix_login_failures_account"))
    op.drop_table("login_failures")
    op.drop_table("admin_users")

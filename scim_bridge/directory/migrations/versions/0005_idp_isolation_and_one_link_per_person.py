"""IdP isolation, token rotation, non-unique externalId, one live link per DingTalk person

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 22:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LIVE_USER_LINK = "kind = 'user' AND state <> 'removed' AND dingtalk_id IS NOT NULL"


def upgrade() -> None:
    # RFC 7643 §3.1: externalId is scoped to the provisioning domain but not unique in it.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("uq_users_idp_external_id")
        batch_op.create_index("ix_users_idp_external_id", ["idp", "external_id"], unique=False)
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index("uq_groups_idp_external_id")
        batch_op.create_index("ix_groups_idp_external_id", ["idp", "external_id"], unique=False)

    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shared", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("read_only", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("previous_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("previous_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(batch_op.f("uq_tokens_previous_hash"), ["previous_hash"])

    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.Text(), nullable=True))

    # Before the constraint: a store that met the takeover bug may hold two live links to one
    # DingTalk person. The earliest link keeps the person; the later ones lose it and are
    # projected again (the translator then gives them a userid of their own).
    bind = op.get_bind()
    shared = bind.execute(
        sa.text(
            f"SELECT dingtalk_id FROM links WHERE {LIVE_USER_LINK} "
            "GROUP BY dingtalk_id HAVING COUNT(*) > 1"
        )
    ).scalars()
    for dingtalk_id in list(shared):
        ids = bind.execute(
            sa.text(f"SELECT id FROM links WHERE {LIVE_USER_LINK} AND dingtalk_id = :d ORDER BY id"),
            {"d": dingtalk_id},
        ).scalars()
        for link_id in list(ids)[1:]:
            bind.execute(
                sa.text(
                    "UPDATE links SET dingtalk_id = NULL, snapshot = NULL, state = 'pending', "
                    "last_error = :why WHERE id = :i"
                ),
                {
                    "i": link_id,
                    "why": f"was linked to DingTalk user {dingtalk_id}, which another SCIM "
                    "user holds; it will be created anew",
                },
            )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index(
            "uq_links_live_user_dingtalk_id",
            ["dingtalk_id"],
            unique=True,
            sqlite_where=sa.text(LIVE_USER_LINK),
            postgresql_where=sa.text(LIVE_USER_LINK),
        )


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index("uq_links_live_user_dingtalk_id")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_column("detail")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_tokens_previous_hash"), type_="unique")
        batch_op.drop_column("previous_expires_at")
        batch_op.drop_column("previous_hash")
        batch_op.drop_column("read_only")
        batch_op.drop_column("shared")
    # Restoring uniqueness fails if duplicates were stored since; that is the point of 0005.
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index("ix_groups_idp_external_id")
        batch_op.create_index("uq_groups_idp_external_id", ["idp", "external_id"], unique=True)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_idp_external_id")
        batch_op.create_index("uq_users_idp_external_id", ["idp", "external_id"], unique=True)

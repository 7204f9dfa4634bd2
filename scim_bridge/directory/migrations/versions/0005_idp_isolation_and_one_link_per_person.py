"""IdP isolation, token rotation, non-unique externalId, one live link per DingTalk person

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 22:10:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime

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
    links = sa.table(
        "links",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("key", sa.String),
        sa.column("state", sa.String),
        sa.column("dingtalk_id", sa.String),
        sa.column("snapshot", sa.JSON),
        sa.column("last_error", sa.Text),
    )
    live = sa.and_(
        links.c.kind == "user", links.c.state != "removed", links.c.dingtalk_id.is_not(None)
    )
    bind = op.get_bind()
    shared = bind.execute(
        sa.select(links.c.dingtalk_id)
        .where(live)
        .group_by(links.c.dingtalk_id)
        .having(sa.func.count() > 1)
    ).scalars()
    for dingtalk_id in list(shared):
        holders = bind.execute(
            sa.select(links.c.id, links.c.key)
            .where(live, links.c.dingtalk_id == dingtalk_id)
            .order_by(links.c.id)
        ).all()
        for link_id, scim_id in holders[1:]:
            bind.execute(
                sa.update(links)
                .where(links.c.id == link_id)
                .values(
                    dingtalk_id=None,
                    snapshot=None,
                    state="pending",
                    last_error=f"was linked to DingTalk user {dingtalk_id}, which another SCIM "
                    "user holds; it will be created anew",
                )
            )
            _queue_user(bind, scim_id)
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index(
            "uq_links_live_user_dingtalk_id",
            ["dingtalk_id"],
            unique=True,
            sqlite_where=sa.text(LIVE_USER_LINK),
            postgresql_where=sa.text(LIVE_USER_LINK),
        )


def _queue_user(bind: sa.Connection, scim_id: str) -> None:
    """Put a user in the outbox (as directory/outbox.py does) so the translator projects it."""
    outbox = sa.table(
        "outbox",
        sa.column("resource_type", sa.String),
        sa.column("resource_id", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("changed_at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String),
        sa.column("available_at", sa.DateTime(timezone=True)),
        sa.column("attempts", sa.Integer),
    )
    queued = bind.execute(
        sa.select(outbox.c.resource_id).where(
            outbox.c.resource_type == "User", outbox.c.resource_id == scim_id
        )
    ).first()
    if queued is None:
        now = datetime.now(UTC)
        bind.execute(
            sa.insert(outbox).values(
                resource_type="User",
                resource_id=scim_id,
                seq=1,
                changed_at=now,
                actor="migration-0005",
                available_at=now,
                attempts=0,
            )
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

"""sync_events folds into the audit trail; erasure receipts; erasable payloads

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-07 01:10:00.000000

Issue 11: the DingTalk calls the translator makes become audit records (``sync/record.py``),
so ``sync_events`` is copied into ``audit_records`` as DingTalk-side records (unchained: the
sequencer chains them after the records already chained, like any new record) and dropped.
``detail_hash`` lets an erased payload verify against its retained hash (docs/audit.md).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: The ``idp`` of a DingTalk-side record (sync/dingtalk_audit.py: DINGTALK), frozen here.
DINGTALK = "(dingtalk)"
BATCH = 1000

_json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_events = sa.table(
    "sync_events",
    sa.column("id", sa.Integer()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("resource_type", sa.String()),
    sa.column("resource_id", sa.String()),
    sa.column("action", sa.String()),
    sa.column("dingtalk_id", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("code", sa.String()),
    sa.column("detail", sa.Text()),
    sa.column("fields", _json),
    sa.column("actor", sa.String()),
    sa.column("attempt", sa.Integer()),
)
_records = sa.table(
    "audit_records",
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String()),
    sa.column("idp", sa.String()),
    sa.column("request_id", sa.String()),
    sa.column("client", sa.String()),
    sa.column("resource_type", sa.String()),
    sa.column("resource_id", sa.String()),
    sa.column("operation", sa.String()),
    sa.column("status", sa.Integer()),
    sa.column("detail", sa.Text()),
)


def _status(code: str | None) -> int:
    try:
        return 0 if code is None else int(code)
    except ValueError:
        return -1


def _row(event: Any) -> dict[str, Any]:
    """One sync_events row as a DingTalk-side audit record (sync/dingtalk_audit.py's shape);
    the SCIM changes it served were never known, so it serves none."""
    what: dict[str, Any] = {
        "target": event.dingtalk_id,
        "outcome": event.outcome,
        "errcode": event.code or "0",
        "reason": event.detail,
        "attempt": event.attempt or 0,
        "migrated_from": f"sync_events {event.id}",
    }
    if event.fields:
        # DingTalk user fields carry no secret; the rule of directory/audit.py still holds.
        what["fields"] = {
            k: "[redacted]" if str(k).lower() == "password" else v for k, v in event.fields.items()
        }
    detail = json.dumps(
        {"dingtalk": what, "serves": []},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return {
        "at": event.at,
        "actor": (event.actor or "translator")[:128],
        "idp": DINGTALK,
        "request_id": "-",
        "client": None,
        "resource_type": event.resource_type[:16],
        "resource_id": event.resource_id,
        "operation": event.action[:16],
        "status": _status(event.code),
        "detail": detail,
    }


def _copy_events() -> None:
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(_events).where(_events.c.id > after).order_by(_events.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(_records.insert(), [_row(r) for r in rows])
        after = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_audit_records_request_id", ["request_id"], unique=False)
    op.create_table(
        "erasure_receipts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("scim_id", sa.String(length=36), nullable=False),
        sa.Column("dingtalk_userid", sa.String(length=64), nullable=True),
        sa.Column("removed", _json, nullable=False),
        sa.Column("dingtalk_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dingtalk_answer", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_receipts")),
    )
    with op.batch_alter_table("erasure_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasure_receipts_scim_id"), ["scim_id"], unique=False)
    _copy_events()
    with op.batch_alter_table("sync_events", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_events_resource")
        batch_op.drop_index(batch_op.f("ix_sync_events_at"))
    op.drop_table("sync_events")


def downgrade() -> None:
    # The copied events stay in the audit trail (deleting chained records would break it);
    # sync_events comes back empty.
    op.create_table(
        "sync_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("dingtalk_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("fields", _json, nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_events")),
    )
    with op.batch_alter_table("sync_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_events_at"), ["at"], unique=False)
        batch_op.create_index(
            "ix_sync_events_resource", ["resource_type", "resource_id"], unique=False
        )
    op.drop_table("erasure_receipts")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_request_id")
        batch_op.drop_column("detail_hash")

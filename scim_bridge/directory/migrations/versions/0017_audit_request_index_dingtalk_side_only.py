"""audit trail: index request ids of DingTalk-side records only

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 07:10:00.000000

Issue 11 (acceptance 4, the trail's cost on a SCIM write): ``ix_audit_records_request_id``
served one query, `audit history`'s "which DingTalk operations served these requests"
(monitor/audit_history.py), which asks only for DingTalk-side records (``idp = '(dingtalk)'``).
Every SCIM write still added an entry to it, on a random page (request ids are random), so
each write's commit wrote one more page. A partial index keeps the lookup indexed and leaves
SCIM writes out of it. SQLite (3.8+) and PostgreSQL both have partial indexes; the query
states the predicate as a literal so that either planner can match it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

#: directory/audit.py's DINGTALK_SIDE, as the index predicate (a literal: planners match text).
DINGTALK_SIDE = sa.text("idp = '(dingtalk)'")


def upgrade() -> None:
    op.drop_index("ix_audit_records_request_id", table_name="audit_records")
    op.create_index(
        "ix_audit_records_request_id",
        "audit_records",
        ["request_id"],
        unique=False,
        sqlite_where=DINGTALK_SIDE,
        postgresql_where=DINGTALK_SIDE,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_records_request_id", table_name="audit_records")
    op.create_index("ix_audit_records_request_id", "audit_records", ["request_id"], unique=False)

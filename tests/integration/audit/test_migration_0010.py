"""Migration 0010 folds sync_events into the audit trail: each event becomes a DingTalk-side
record, chained by the sequencer like any new record, and the table goes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import create_engine, inspect, text

from scim_bridge.directory.db import Database, alembic_config, upgrade
from scim_bridge.monitor.audit import verify
from scim_bridge.monitor.audit_chain import chain_pending
from scim_bridge.sync.dingtalk_audit import DINGTALK

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_sync_events_become_dingtalk_side_audit_records(db_url: str) -> None:
    command.downgrade(alembic_config(db_url), "0007")
    try:
        engine = create_engine(db_url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO sync_events (at, resource_type, resource_id, action, "
                    "dingtalk_id, outcome, code, detail, fields, actor, attempt) VALUES "
                    "(:at, 'User', 'u-1', 'create', 'alice', 'ok', NULL, NULL, :fields, "
                    "'okta', 0), (:at, 'User', 'u-1', 'sync', NULL, 'retry', '-1', "
                    "'DingTalk was busy', NULL, 'okta', 2)"
                ),
                {"at": AT, "fields": json.dumps({"name": "Alice", "password": "x"})},
            )
        engine.dispose()
    finally:
        upgrade(db_url)
    engine = create_engine(db_url)
    assert "sync_events" not in inspect(engine).get_table_names()
    engine.dispose()
    database = Database(db_url)
    try:
        assert chain_pending(database, now=AT) == 2
        with database.read() as session:
            rows = session.execute(
                text(
                    "SELECT idp, operation, status, resource_id, detail FROM audit_records "
                    "ORDER BY id"
                )
            ).all()
            assert verify(session).intact
    finally:
        database.dispose()
    assert [(r.idp, r.operation, r.status, r.resource_id) for r in rows] == [
        (DINGTALK, "create", 0, "u-1"),
        (DINGTALK, "sync", -1, "u-1"),
    ]
    created, retried = (json.loads(r.detail) for r in rows)
    assert created["dingtalk"]["fields"] == {"name": "Alice", "password": "[redacted]"}
    assert created["dingtalk"]["target"] == "alice"
    assert retried["dingtalk"]["outcome"] == "retry"
    assert retried["dingtalk"]["reason"] == "DingTalk was busy"

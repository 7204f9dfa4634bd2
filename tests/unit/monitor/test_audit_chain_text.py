"""The sequencer's hand-written canonical text must be byte for byte what the chain's rule gives.

``chained_text`` exists only to save the sequencer building and sorting a dict per record
(bench/instructions.py); `audit verify` recomputes hashes through ``content`` + ``canonical``,
so any difference would make every newly chained record fail verification.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from scim_bridge.directory.audit import canonical
from scim_bridge.directory.models import AuditRecord
from scim_bridge.monitor.audit_chain import chained_text, content

CASES = [
    ("okta-prod", "okta", "req-1", "10.0.0.1", "User", "2819c223", "POST", 201),
    ("console:ann", "(dingtalk)", "-", None, "Department", None, "create", 0),
    ('quote " and \\ back', "idp\nnew line", "tab\there", "\u2028", "Group", "é中文", "PATCH", -1),
    ("\x00\x1f control", "emoji 🙂", "r" * 128, "c" * 64, "Role", "x" * 300, "DELETE", 60121),
]
TIMES = [
    datetime(2026, 12, 7, 7, 20, 8, 123456, tzinfo=UTC),
    datetime(2026, 1, 1),  # naive, as SQLite hands it back
    datetime(2026, 6, 30, 23, 59, 59, tzinfo=timezone(timedelta(hours=8))),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("at", TIMES)
def test_chained_text_is_the_canonical_json_of_the_records_content(case, at):
    actor, idp, request_id, client, rtype, rid, operation, status = case
    digest = "ab" * 32
    columns = (at, actor, idp, request_id, client, rtype, rid, operation, status)
    record = AuditRecord(
        id=4711,
        seq=42,
        detail="{}",
        detail_hash=digest,
        at=at,
        actor=actor,
        idp=idp,
        request_id=request_id,
        client=client,
        resource_type=rtype,
        resource_id=rid,
        operation=operation,
        status=status,
    )
    expected = canonical(content(record))
    assert chained_text(4711, 42, digest, *columns) == expected

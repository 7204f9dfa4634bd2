"""The console's person page as data (issue 13): `explain` made visual, never reading DingTalk.

The page is built on the same read model as `scim-bridge explain` (monitor/explain.py), called
as `explain --no-live` is: what DingTalk should hold is compared with what the bridge last
applied (the link's snapshot), because a web request never calls DingTalk (design.md). Beside
the explanation: the person's e-mails and phone numbers as the IdP sent them, the audit
timeline (monitor/audit_history.py, newest first) and the state of the last "Sync now".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scim_bridge.directory.console_actions import ActionKind, QueuedAction, latest_action
from scim_bridge.directory.db import Database
from scim_bridge.mapping.compare import DEPT_LIST, MANAGER
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.monitor.audit_history import Entry, timeline
from scim_bridge.monitor.explain import Explanation, explain
from scim_bridge.monitor.people_search import contacts
from scim_bridge.settings import Settings

#: Timeline entries the page shows (the newest; `scim-bridge audit history` shows them all).
TIMELINE = 50


@dataclass(frozen=True)
class FieldRow:
    """One DingTalk field: what the mapping says it should hold, what was last applied."""

    field: str
    should: Any
    holds: Any
    differs: bool
    #: The desired value is not known yet (a department not created): not compared.
    unknown: bool


@dataclass(frozen=True)
class PersonView:
    """Everything the person page shows."""

    explanation: Explanation
    contacts: dict[str, list[str]]
    fields: list[FieldRow]
    timeline: list[Entry]
    timeline_total: int
    sync_action: QueuedAction | None


def field_rows(e: Explanation) -> list[FieldRow]:
    """Return should-hold vs last-applied, field by field, the differing ones marked."""
    should, held = e.dingtalk.should, e.dingtalk.last_applied or {}
    differing = {d.field for d in e.dingtalk.differences}
    names = list(should) + [n for n in (DEPT_LIST, MANAGER) if n not in should and n in held]
    return [
        FieldRow(
            field=name,
            should=should.get(name),
            holds=held.get(name) if e.dingtalk.last_applied is not None else None,
            differs=name in differing,
            unknown=name in e.dingtalk.unknown,
        )
        for name in names
    ]


def person_view(
    db: Database, settings: Settings, rules: MappingRules, scim_id: str, *, now: datetime
) -> PersonView:
    """Return the person page of the person ``scim_id`` names (UnknownPerson if no one)."""
    explained = explain(db, None, settings, rules, scim_id, now=now)
    found = explained.store.scim_id
    with db.read() as session:
        held = contacts(session, found)
        entries = timeline(session, found)
        action = latest_action(session, ActionKind.SYNC_NOW, target=found)
    return PersonView(
        explanation=explained,
        contacts=held,
        fields=field_rows(explained),
        timeline=entries[-TIMELINE:][::-1],
        timeline_total=len(entries),
        sync_action=action,
    )


def person_status(
    db: Database, settings: Settings, rules: MappingRules, scim_id: str, *, now: datetime
) -> dict[str, Any]:
    """Return what the page polls for: the verdict and the last "Sync now", as JSON data."""
    explained = explain(db, None, settings, rules, scim_id, now=now)
    with db.read() as session:
        action = latest_action(session, ActionKind.SYNC_NOW, target=explained.store.scim_id)
    return {
        "verdict": {
            "kind": explained.verdict.kind.value,
            "sentence": explained.verdict.sentence,
            "settled": explained.verdict.kind.settled,
        },
        "action": action_state(action),
    }


def action_state(action: QueuedAction | None) -> dict[str, Any] | None:
    """Return a "Sync now" action as the page shows it: waiting, or done with its outcome."""
    if action is None:
        return None
    return {
        "id": action.id,
        "state": "done" if action.done_at is not None else "waiting",
        "words": (
            f"done: {action.outcome}" if action.done_at is not None else "waiting for the worker"
        ),
        "requested_by": action.requested_by,
        "requested_at": action.requested_at.isoformat(),
    }

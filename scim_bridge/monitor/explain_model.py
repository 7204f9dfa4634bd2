"""What `explain` answers, as data: a frozen dataclass tree, JSON-able (issue 11, issue 13).

One section per place a person's state lives; the CLI renders it as text or JSON, and the
console's person page renders the same tree. monitor/explain.py fills it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from scim_bridge.mapping.compare import FieldDiff
from scim_bridge.monitor.verdict import LiveStatus, Verdict, WaitReason


@dataclass(frozen=True)
class StoreSection:
    """The SCIM record: is the person in the store, whose, how, since when."""

    present: bool
    scim_id: str
    user_name: str | None = None
    display_name: str | None = None
    external_id: str | None = None
    idp: str | None = None
    active: bool | None = None
    created: datetime | None = None
    last_modified: datetime | None = None
    modified_by: str | None = None


@dataclass(frozen=True)
class MappingSection:
    """What the mapping makes of the record: desired DingTalk fields, or why none."""

    action: str  # upsert | skip | remove | "" (not in the store)
    in_scope: bool
    reason: str = ""
    userid: str | None = None
    fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    department_keys: tuple[str, ...] = ()
    #: The DingTalk names of those departments, in the same order.
    departments: tuple[str, ...] = ()
    manager_scim_id: str | None = None
    warnings: tuple[str, ...] = ()
    #: Fields DingTalk requires at create that the mapping leaves empty.
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class DingTalkSection:
    """What DingTalk should hold and what it holds, field by field."""

    userid: str | None
    should: Mapping[str, Any]
    #: Fields whose desired value is not known yet (departments not created): not compared.
    unknown: tuple[str, ...]
    live: LiveStatus
    holds: Mapping[str, Any] | None = None
    #: Why the read failed (FAILED) or was not made (SKIPPED), in plain words.
    live_error: str | None = None
    #: "DingTalk" (the live read) or "last applied" (the link's snapshot), or "" (nothing).
    compared_with: str = ""
    differences: tuple[FieldDiff, ...] = ()
    #: What the bridge last applied (the link's snapshot), whether or not DingTalk was read:
    #: the console's person page shows it beside what DingTalk should hold.
    last_applied: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class LinkSection:
    """The bridge's link from the SCIM user to a DingTalk person."""

    userid: str | None
    state: str
    last_synced_at: datetime | None
    attempts: int
    last_error: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class PendingSection:
    """A change in the outbox that has not reached DingTalk yet."""

    seq: int
    changed_at: datetime
    first_changed_at: datetime
    actor: str | None
    attempts: int
    max_attempts: int
    next_attempt_at: datetime
    why: WaitReason
    worker: str | None = None


@dataclass(frozen=True)
class DeadLetterSection:
    """The change the worker gave up on: the reason and the fix in plain words."""

    id: int
    reason: str
    fix: str
    code: str | None
    detail: str | None
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class GuardSection:
    """The mass-change guard: paused or not, and whether it holds this person back."""

    paused: bool
    holds_person: bool = False
    token: str | None = None
    reason: str | None = None
    since: str | None = None


@dataclass(frozen=True)
class Explanation:
    """Everything known about one person's way to DingTalk, ending in one verdict."""

    asked: str
    matched_by: str
    store: StoreSection
    mapping: MappingSection
    dingtalk: DingTalkSection
    link: LinkSection | None
    pending: PendingSection | None
    dead_letter: DeadLetterSection | None
    guard: GuardSection
    verdict: Verdict
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return the explanation as JSON-able data (times in ISO 8601, enums as values)."""
        return _jsonable(self)


def _jsonable(value: Any) -> Any:
    # Not dataclasses.asdict: it deep-copies, and the mapping's read-only maps (the
    # extension field, mapping/model.py) cannot be copied that way.
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value

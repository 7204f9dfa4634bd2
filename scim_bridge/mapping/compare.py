"""Compare what DingTalk should hold for one person with what it holds (pure, plain data).

``explain`` and the console show this diff field by field. It normalises the way the sync
engine does: DingTalk omits empty fields from user/get (dingtalk-api.md §3.4), so "absent"
equals "unset"; booleans, epoch milliseconds and the extension map compare by value; the
department list compares as a set of ids; a manager is a userid or nobody.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scim_bridge.mapping.attributes import USER_FIELDS

#: DingTalk user fields with rules of their own (dingtalk-api.md §3.1, §3.3).
MANAGER = "manager_userid"
DEPT_LIST = "dept_id_list"


@dataclass(frozen=True)
class FieldDiff:
    """One DingTalk field that differs: what the mapping wants and what DingTalk holds."""

    field: str
    should: Any
    holds: Any


def normalise(name: str, value: Any) -> Any:
    """Return a field's value in the form two readings of it are compared in."""
    if name == DEPT_LIST:
        return sorted({str(d) for d in value or []})
    if name == MANAGER:
        return str(value) if value else None
    return normalise_field(name, value)


def normalise_field(name: str, value: Any) -> Any:
    """Normalise a person's field so DingTalk's "omitted when empty" equals our "unset"
    (the rule the translator's diff uses too, sync/decide.py)."""
    spec = USER_FIELDS.get(name)
    if name == "extension":
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError:
                return value
        return {str(k): str(v) for k, v in (value or {}).items()}
    if spec is not None and spec.kind == "bool":
        return bool(value)
    if spec is not None and spec.kind == "epoch_ms":
        return int(value) if value not in (None, "") else None
    return "" if value is None else str(value)


def user_differences(
    should: Mapping[str, Any],
    holds: Mapping[str, Any],
    *,
    managed: Collection[str] = (),
    unknown: Iterable[str] = (),
) -> tuple[FieldDiff, ...]:
    """Return the fields where ``holds`` differs from ``should``, sorted by name.

    A managed field the mapping leaves empty must be empty in DingTalk too (the engine clears
    it); a field in ``unknown`` (e.g. departments not created yet) is not compared.
    """
    skip = set(unknown)
    out = []
    for name in sorted(set(should) | set(managed)):
        if name.startswith("_") or name in skip:
            continue
        if normalise(name, should.get(name)) != normalise(name, holds.get(name)):
            out.append(FieldDiff(name, should.get(name), holds.get(name)))
    return tuple(out)

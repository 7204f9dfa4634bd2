"""DingTalk contact-change events as they arrive over HTTP push: parse, and check freshness.

dingtalk-api.md §9: the HTTP push flattens the event to ``{EventType, EventTime, CorpId, BizId,
eventId, …data fields}``; contact events carry ids only (``UserId`` for ``user_*_org``,
``DeptId`` for ``org_dept_*``), so the receiver reads the records afterwards. ``check_url``
is the handshake DingTalk sends when the callback URL is registered. Pure: no clock, no store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from scim_bridge.errors import CallbackReplayed, CallbackUndecryptable

CHECK_URL = "check_url"
USER_EVENTS = frozenset({"user_add_org", "user_modify_org", "user_leave_org", "user_active_org"})
DEPT_EVENTS = frozenset({"org_dept_create", "org_dept_modify", "org_dept_remove"})
#: Timestamps above this are milliseconds (DingTalk sends ms; some samples show seconds).
_MS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True)
class ContactEvent:
    """One decrypted push: its type, DingTalk's event id (if any) and the ids it names."""

    event_type: str
    event_id: str | None
    user_ids: tuple[str, ...]
    dept_ids: tuple[int, ...]

    @property
    def is_handshake(self) -> bool:
        """Tell whether this is the check_url handshake (answered, never stored)."""
        return self.event_type == CHECK_URL

    def as_json(self) -> dict[str, Any]:
        """Return the event in the flattened HTTP-push shape (what the emulator sends)."""
        body: dict[str, Any] = {"EventType": self.event_type}
        if self.event_id:
            body["eventId"] = self.event_id
        if self.user_ids:
            body["UserId"] = list(self.user_ids)
        if self.dept_ids:
            body["DeptId"] = list(self.dept_ids)
        return body


def _field(body: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in body:
            return body[name]
    return None


def _ids(value: Any, *, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise CallbackUndecryptable(f"the callback's {what} list holds something other than ids")
    return value


def parse_event(message: str) -> ContactEvent:
    """Parse a decrypted push; CallbackUndecryptable when it is not an event object."""
    try:
        body = json.loads(message)
    except ValueError:
        raise CallbackUndecryptable("the callback's message is not JSON") from None
    if not isinstance(body, dict):
        raise CallbackUndecryptable("the callback's message is not a JSON object")
    event_type = _field(body, "EventType", "eventType")
    if not isinstance(event_type, str) or not event_type:
        raise CallbackUndecryptable("the callback's message names no EventType")
    event_id = _field(body, "eventId", "EventId")
    users = _ids(_field(body, "UserId", "userId"), what="UserId")
    depts = _ids(_field(body, "DeptId", "deptId"), what="DeptId")
    try:
        dept_ids = tuple(int(d) for d in depts)
    except ValueError:
        raise CallbackUndecryptable("the callback's DeptId list holds a non-number") from None
    return ContactEvent(
        event_type=event_type,
        event_id=str(event_id) if event_id not in (None, "") else None,
        user_ids=tuple(str(u) for u in users),
        dept_ids=dept_ids,
    )


def signed_at(timestamp: str) -> float:
    """Return a callback's timestamp as epoch seconds; CallbackReplayed if it is no number."""
    try:
        value = int(timestamp)
    except (TypeError, ValueError):
        raise CallbackReplayed("the callback's timestamp is not a number") from None
    return value / 1000 if value >= _MS_THRESHOLD else float(value)


def check_fresh(timestamp: str, *, now: float, max_age: float) -> float:
    """Refuse a callback signed more than ``max_age`` seconds from ``now``; return its time."""
    at = signed_at(timestamp)
    if abs(now - at) > max_age:
        # A captured push replayed later carries its old timestamp (and its valid signature).
        raise CallbackReplayed(
            f"the callback's timestamp is {abs(now - at):.0f} s from our clock "
            f"(at most {max_age:.0f} s accepted)"
        )
    return at

"""v1.0 contact endpoints: leave records (dingtalk-api.md §6) and the two searches (§3.6, §4.4).

These answer the business object on success and raise V1Error (4xx) on bad parameters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from scim_bridge.dingtalk.emulator.state import Directory
from scim_bridge.dingtalk.emulator.wire import OapiError, Params, V1Error

MAX_LEAVE_RESULTS = 50  # dingtalk-api.md §6
LEAVE_SPAN = timedelta(days=365)


def _bad(detail: str) -> V1Error:
    return V1Error(400, "invalidParameter.param.invalid", f"入参错误：{detail}")


def _instant(text: str | None, name: str) -> datetime:
    if not text:
        raise _bad(f"{name} is required")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _bad(f"{name} must be ISO-8601, e.g. 2021-01-06T11:47:37Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def iso(epoch: float) -> str:
    """Format an instant as the leave-record API does: ``YYYY-MM-DDTHH:mm:ssZ`` (§6)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def leave_records(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Page leaver records: GET /v1.0/contact/empLeaveRecords (dingtalk-api.md §6)."""
    start = _instant(_text(p, "startTime"), "startTime")
    end_text = _text(p, "endTime")
    current = datetime.fromtimestamp(now, UTC)
    if end_text:
        end = _instant(end_text, "endTime")
        if end < start or end - start > LEAVE_SPAN:
            raise _bad("startTime and endTime must be at most 365 days apart")
    else:
        end = current
        if current - start > LEAVE_SPAN:
            raise _bad("without endTime, startTime must be within the last 365 days")
    max_results = _number(p, "maxResults", required=True)
    assert max_results is not None
    if not 1 <= max_results <= MAX_LEAVE_RESULTS:
        raise _bad(f"maxResults must be between 1 and {MAX_LEAVE_RESULTS}")
    token = _text(p, "nextToken") or "0"
    try:
        offset = int(token, 16)  # an opaque hex cursor; the first call sends "0" (§6)
    except ValueError:
        raise _bad("nextToken is not a token this API returned") from None
    if offset < 0:
        raise _bad("nextToken is not a token this API returned")
    lo, hi = start.timestamp(), end.timestamp()
    matching = sorted(
        (r for r in d.leave_records if lo <= float(r["leave_time"]) <= hi),
        key=lambda r: float(r["leave_time"]),
    )
    page = matching[offset : offset + max_results]
    out: dict[str, Any] = {
        "records": [
            {
                "userId": r["userid"],
                "name": r["name"],
                "stateCode": r["state_code"],
                "mobile": r["mobile"],
                "leaveTime": iso(float(r["leave_time"])),
                "leaveReason": r["leave_reason"],
            }
            for r in page
        ]
    }
    if offset + max_results < len(matching):
        out["nextToken"] = f"{offset + max_results:X}"
    return out


def search_users(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Search userids by name: POST /v1.0/contact/users/search (dingtalk-api.md §3.6)."""
    matches = _search(p, [(u["userid"], u["name"]) for u in d.users.values()])
    return matches


def search_departments(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Search department ids by name: POST /v1.0/contact/departments/search (§4.4)."""
    depts = [(dept_id, dept["name"]) for dept_id, dept in d.depts.items()]
    return _search(p, depts)


def _search(p: Params, rows: list[tuple[Any, str]]) -> dict[str, Any]:
    word = _text(p, "queryWord")
    if not word:
        raise _bad("queryWord is required")
    offset = _number(p, "offset", required=False) or 0
    size = _number(p, "size", required=False) or 20
    if offset < 0 or not 1 <= size <= 100:
        raise _bad("offset must be ≥ 0 and size between 1 and 100")
    full_match = (_number(p, "fullMatchField", required=False) or 0) == 1
    hits = [key for key, name in rows if (name == word if full_match else word in name)]
    return {
        "hasMore": offset + size < len(hits),
        "totalCount": len(hits),
        "list": hits[offset : offset + size],
    }


def _text(p: Params, name: str) -> str | None:
    try:
        return p.string(name)
    except OapiError:
        raise _bad(f"{name} must be a string") from None


def _number(p: Params, name: str, *, required: bool) -> int | None:
    try:
        value = p.integer(name)
    except OapiError:
        raise _bad(f"{name} must be an integer") from None
    if value is None and required:
        raise _bad(f"{name} is required")
    return value

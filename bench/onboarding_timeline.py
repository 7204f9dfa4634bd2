"""Where an onboarding's time goes, read from the emulator's call record (issue 14).

The emulator logs every DingTalk call it answered with its arrival time (wall clock), API,
userid and outcome. From that record alone this module tells, relative to the moment the
first POST was sent:

* calls per second per API (and throttled answers per second), the quota's use over time;
* when the first call of each API came (token, department, the first user/create);
* the seconds in which the bounding API (user/create) got fewer calls than the quota, and
  how many calls those seconds lost against a full quota;
* the serial steps per person: the time from a person's first call (a lookup by mobile) to
  their user/create, and from their create to a later update of the same person.

Prints text; asserts nothing. bench/onboarding.py calls it with ``--timeline``.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from typing import Any

CREATE = "/topapi/v2/user/create"


def per_second(calls: list[dict[str, Any]], t0: float) -> dict[str, Counter[int]]:
    """Calls answered per API per second since ``t0`` (throttled ones under 'API throttled')."""
    out: dict[str, Counter[int]] = defaultdict(Counter)
    for call in calls:
        api = str(call.get("api") or call.get("path"))
        second = math.floor(float(call["time"]) - t0)
        if call["outcome"].get("sub_code") == "90018":
            api += " throttled"
        out[api][second] += 1
    return out


def lost_quota(counts: Counter[int], qps: float, first: int, last: int) -> tuple[int, list[int]]:
    """Calls a full quota would have carried but did not, and the seconds below quota."""
    short = [s for s in range(first, last + 1) if counts.get(s, 0) < math.floor(qps)]
    lost = sum(math.floor(qps) - counts.get(s, 0) for s in short)
    return lost, short


def serial_steps(calls: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per person: first call -> create, and create -> a later update, in seconds."""
    first: dict[str, float] = {}
    created: dict[str, float] = {}
    after: list[float] = []
    for call in sorted(calls, key=lambda c: float(c["time"])):
        userid = call.get("userid")
        if not userid or call["outcome"].get("sub_code") == "90018":
            continue
        at = float(call["time"])
        first.setdefault(str(userid), at)
        if call.get("api") == CREATE:
            created.setdefault(str(userid), at)
        elif call.get("api") == "/topapi/v2/user/update" and str(userid) in created:
            after.append(at - created[str(userid)])
    before = [created[u] - first[u] for u in created if created[u] > first[u]]
    return {"first call -> create": before, "create -> update": after}


def report(calls: list[dict[str, Any]], t0: float, qps: float, end: float) -> list[str]:
    """The breakdown as lines of text."""
    lines: list[str] = []
    seconds = per_second(calls, t0)
    firsts: dict[str, float] = {}
    for call in calls:
        api = str(call.get("api") or call.get("path"))
        firsts[api] = min(firsts.get(api, math.inf), float(call["time"]) - t0)
    lines.append("first call of each API (s after the first POST):")
    for api, at in sorted(firsts.items(), key=lambda kv: kv[1]):
        total = sum(seconds[api].values())
        lines.append(f"  {at:7.2f}  {api}  ({total} calls)")
    creates = seconds.get(CREATE, Counter())
    if creates:
        start, stop = min(creates), max(creates)
        lost, short = lost_quota(creates, qps, start, stop)
        times = [float(c["time"]) - t0 for c in calls if c.get("api") == CREATE]
        lines.append(
            f"user/create: seconds {start}..{stop}; {len(short)} of {stop - start + 1} below the "
            f"quota, {lost} calls lost to them (= {lost / qps:.1f} s); first create at "
            f"{min(times):.2f} s, last at {max(times):.2f} s, all seen at {end - t0:.2f} s"
        )
        lines.append("user/create per second: " + " ".join(str(creates.get(s, 0)) for s in short))
        lines.append(f"  (only the seconds below quota, of {start}..{stop})")
    for name, values in serial_steps(calls).items():
        if values:
            lines.append(
                f"{name}: n={len(values)} p50={statistics.median(values) * 1000:.0f} ms "
                f"max={max(values) * 1000:.0f} ms"
            )
    lines.append("calls per second by API (second: count):")
    for api in sorted(seconds):
        row = seconds[api]
        lines.append(f"  {api}: " + " ".join(f"{s}:{n}" for s, n in sorted(row.items())))
    return lines

"""Literal minute buckets and a hand-moved clock for the SLA tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AvailabilityFailure, AvailabilityMinute

MINUTE = timedelta(minutes=1)


def utc(text: str) -> datetime:
    """Parse ``2026-11-01T00:00`` as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def minutes(start: str, count: int) -> list[datetime]:
    """Return ``count`` consecutive minute starts from ``start`` (UTC)."""
    first = utc(start)
    return [first + n * MINUTE for n in range(count)]


def put(
    db: Database,
    at: Iterable[datetime],
    *,
    ok: int = 0,
    transient: int = 0,
    down: bool | None = None,
    api: str = "/topapi/v2/user/get",
) -> None:
    """Store literal minute rows (down: more than half the calls failed DingTalk-side)."""
    with db.write() as session:
        for minute in at:
            verdict = transient > (ok + transient) * 0.5 if down is None else down
            session.add(
                AvailabilityMinute(
                    minute=minute,
                    ok=ok,
                    transient=transient,
                    rejected=0,
                    throttled=0,
                    banned=0,
                    probe_ok=0,
                    probe_failed=0,
                    probe_refused=0,
                    down=verdict,
                )
            )
            if transient:
                session.add(
                    AvailabilityFailure(minute=minute, api=api, code="transient", count=transient)
                )


class Clock:
    """A UTC clock the test moves by hand."""

    def __init__(self, start: str) -> None:
        self.now = utc(start)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta = MINUTE) -> None:
        self.now += delta

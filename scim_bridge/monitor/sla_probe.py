"""The availability probe: one cheap DingTalk read so idle minutes are measured (issue 12).

One process probes per interval (whichever claims the turn in ``bridge_state`` first, under the
SLA lock), so ten worker processes do not make ten probes. When the probe finds DingTalk
answering while an incident is open, the changes waiting in backoff because of it are
released at once: their next attempt is now, and the worker's rate limiter paces them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from scim_bridge.directory.bridge_state import store, stored
from scim_bridge.directory.models import OutboxEntry
from scim_bridge.errors import DingTalkError, Transient
from scim_bridge.monitor.availability import aware
from scim_bridge.monitor.incidents import lock
from scim_bridge.monitor.sla_recorder import AvailabilityRecorder

#: bridge_state key of the last probe's time.
PROBE_KEY = "sla.probe"
#: The API the default probe reads (dingtalk-api.md §4: department/get of the root, id 1).
PROBE_API = "/topapi/v2/department/get"
#: A turn is free once this fraction of the interval has passed (a job fires a little early).
TURN = 0.9


def claim_turn(session: Session, *, now: datetime, interval: float) -> bool:
    """Take this interval's probe for the calling process; False if another has it."""
    lock(session)
    state = stored(session, PROBE_KEY)
    if state is not None:
        last = aware(datetime.fromisoformat(str(state["at"])))
        if now - last < timedelta(seconds=interval * TURN):
            return False
    store(session, PROBE_KEY, {"at": now.isoformat()}, now=now)
    return True


def probe_once(read: Callable[[], object], recorder: AvailabilityRecorder) -> str:
    """Call ``read`` once; count and return "ok", "failed" (DingTalk-side) or "refused" (ours)."""
    try:
        read()
    except Transient as exc:
        # 5xx, timeouts, refused connections, "system busy" (dingtalk/errcodes.py TRANSIENT).
        recorder.probe_finished("failed", api=exc.api or PROBE_API, code=exc.reason)
        return "failed"
    except DingTalkError as exc:
        # Our credentials, our throttling, the ban we earned: DingTalk answered.
        recorder.probe_finished("refused", api=exc.api or PROBE_API, code=exc.reason)
        return "refused"
    recorder.probe_finished("ok", api=PROBE_API)
    return "ok"


def release_backoff(session: Session, *, now: datetime) -> int:
    """Make changes waiting in a failure backoff due now; return how many.

    A counted attempt (``attempts`` > 0) is a transient failure's backoff: throttling, an IP
    ban and the guard postpone without counting one (sync/worker.py). Leased rows are being
    worked on and are left alone. A row whose counted attempt was our own bug is released
    too; it then fails again and backs off again, which costs one attempt at most.
    """
    released = session.execute(
        update(OutboxEntry)
        .where(
            OutboxEntry.attempts > 0,
            OutboxEntry.available_at > now,
            or_(OutboxEntry.lease_owner.is_(None), OutboxEntry.lease_expires_at < now),
        )
        .values(available_at=now)
        .returning(OutboxEntry.id)
    ).all()
    return len(released)

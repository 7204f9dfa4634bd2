"""Readiness that means something (issue 12): what /readyz checks, and what the worker records.

The web request never calls DingTalk (design.md): the worker records its heartbeat and the
outcome of its last token refresh in ``bridge_state``, and /readyz reads those rows. Each check
is named, says ok or failing, and gives its reason in plain words.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.orm import Session

from scim_bridge.directory.bridge_state import store
from scim_bridge.directory.db import Database, alembic_config
from scim_bridge.directory.models import BridgeState

#: bridge_state keys: the translator's last heartbeat, and its last token refresh.
HEARTBEAT_KEY = "worker.heartbeat"
TOKEN_KEY = "dingtalk.token"


@dataclass(frozen=True)
class Check:
    """One named readiness check: ok or failing, and why."""

    name: str
    ok: bool
    reason: str

    def as_json(self) -> dict[str, Any]:
        """Return the check as /readyz shows it."""
        return {"status": "ok" if self.ok else "failing", "reason": self.reason}


@dataclass(frozen=True)
class ReadinessPolicy:
    """What /readyz expects: a worker heartbeat and a token younger than these (0: no worker)."""

    heartbeat_seconds: float
    token_seconds: float


# --- what the worker records --------------------------------------------------------------------


def record_heartbeat(session: Session, *, owner: str, now: datetime) -> None:
    """Record that the translator ``owner`` is alive at ``now``."""
    store(session, HEARTBEAT_KEY, {"owner": owner, "at": now.isoformat()}, now=now)


def record_token(session: Session, *, ok: bool, reason: str, now: datetime) -> None:
    """Record the outcome of the worker's token refresh (``reason``: plain words, no secret)."""
    store(session, TOKEN_KEY, {"ok": ok, "reason": reason, "at": now.isoformat()}, now=now)


# --- what /readyz checks ------------------------------------------------------------------------


@functools.cache
def _script_heads(url: str) -> tuple[str, ...]:
    # The migration scripts ship with the package: read them once per process.
    return tuple(sorted(ScriptDirectory.from_config(alembic_config(url)).get_heads()))


def _age(row: BridgeState | None, now: datetime) -> float | None:
    if row is None:
        return None
    at = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
    return (now - at).total_seconds()


def _migrations(session: Session, url: str) -> Check:
    current = tuple(sorted(MigrationContext.configure(session.connection()).get_current_heads()))
    heads = _script_heads(url)
    if current == heads:
        return Check("migrations", True, f"at head {', '.join(heads)}")
    have = ", ".join(current) or "none"
    return Check(
        "migrations",
        False,
        f"database at {have}, code expects {', '.join(heads)}: run `scim-bridge db upgrade`",
    )


def _heartbeat(session: Session, policy: ReadinessPolicy, now: datetime) -> Check:
    age = _age(session.get(BridgeState, HEARTBEAT_KEY), now)
    if age is None:
        return Check("worker", False, "no translator has reported a heartbeat yet")
    if age > policy.heartbeat_seconds:
        return Check(
            "worker",
            False,
            f"the translator's last heartbeat is {age:.0f} s old "
            f"(limit {policy.heartbeat_seconds:.0f} s): is `scim-bridge worker` running?",
        )
    return Check("worker", True, f"heartbeat {age:.0f} s ago")


def _token(session: Session, policy: ReadinessPolicy, now: datetime) -> Check:
    row = session.get(BridgeState, TOKEN_KEY)
    age = _age(row, now)
    if row is None or age is None:
        return Check("dingtalk_token", False, "the translator has not fetched a token yet")
    if not row.value.get("ok"):
        return Check("dingtalk_token", False, str(row.value.get("reason") or "token refused"))
    if age > policy.token_seconds:
        return Check(
            "dingtalk_token",
            False,
            f"the last token refresh is {age:.0f} s old (limit {policy.token_seconds:.0f} s)",
        )
    return Check("dingtalk_token", True, f"refreshed {age:.0f} s ago")


def check_readiness(
    db: Database, policy: ReadinessPolicy, *, clock: Callable[[], datetime]
) -> list[Check]:
    """Run every readiness check; none raises (a failure is a failing check with its reason)."""
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
            checks = [Check("database", True, "answers")]
            checks.append(_migrations(session, db.url))
            if policy.heartbeat_seconds > 0:
                now = clock()
                checks.append(_heartbeat(session, policy, now))
                checks.append(_token(session, policy, now))
    except Exception as exc:  # readiness reports any failure, it must not raise
        return [Check("database", False, f"does not answer ({type(exc).__name__})")]
    return checks

"""Helpers of the console-ops tests: dead letters, a paused guard, actions and their outcomes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from console_support import T0
from sqlalchemy import select

from scim_bridge.directory.console_actions import queue_action
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import ConsoleAction, DeadLetter, Link, OutboxEntry, User
from scim_bridge.mapping.rules import GuardRules, MappingRules, default_rules_path, load_rules
from scim_bridge.sync import guard

#: A cause the translator writes: the stored words are the advice's, with its code.
MOBILE = ("60103", "DingTalk does not accept the mobile number")


def rules() -> MappingRules:
    """The default mapping rules."""
    return load_rules(default_rules_path())


def bad_mobile_words() -> str:
    """The stored reason of a bad mobile, as sync/failures.py writes it (str(advice))."""
    from scim_bridge.dingtalk.advice import advice_for

    return str(advice_for("60103"))


def add_letter(
    database: Database,
    resource_id: str,
    *,
    code: str | None,
    reason: str,
    at: datetime = T0,
    detail: str | None = None,
) -> int:
    """Insert one dead letter of a User; return its id."""
    with database.write() as session:
        row = DeadLetter(
            resource_type="User",
            resource_id=resource_id,
            reason=reason,
            code=code,
            detail=detail,
            created_at=at,
        )
        session.add(row)
        session.flush()
        return row.id


def ask(database: Database, kind: str, target: str, *, by: str = "ada") -> int:
    """Queue a console action as the worker would find it; return its id."""
    with database.write() as session:
        return queue_action(session, kind, target=target, requested_by=by, now=T0).id


def outcome(database: Database, action_id: int) -> str | None:
    """Return an action's outcome (None while it waits)."""
    with database.read() as session:
        row = session.get(ConsoleAction, action_id)
        assert row is not None
        return row.outcome


def letters(database: Database) -> list[str]:
    """Return the resource ids of the dead letters left, sorted."""
    with database.read() as session:
        return sorted(session.scalars(select(DeadLetter.resource_id)))


def queued(database: Database) -> list[str]:
    """Return the resource ids in the outbox, sorted."""
    with database.read() as session:
        return sorted(session.scalars(select(OutboxEntry.resource_id)))


def pause_the_guard(
    database: Database, *, people: int = 20, gone: int = 12, at: datetime = T0
) -> str:
    """Link ``people`` users to DingTalk at ``at``, delete ``gone`` of them, let the guard
    pause a second later; return its token."""
    with database.write() as session:
        for i in range(people):
            uid = f"p{i:02d}"
            if i >= gone:  # still in the directory
                session.add(
                    User(id=uid, user_name=f"{uid}@example.com", user_name_key=f"{uid}@example.com",
                         display_name=f"Person {i}", data={}, created=at, last_modified=at,
                         version=1, idp="test")
                )  # fmt: skip
            session.add(
                Link(kind="user", key=uid, dingtalk_id=f"dt{i}", state="synced", updated_at=at)
            )
    with database.write() as session:
        later = at + timedelta(seconds=1)
        decision = guard.propose_removal(session, "p00", GuardRules(), now=later)
    assert not decision.allow
    return decision.token


def actions(database: Database) -> list[tuple[str, str, str]]:
    """Return every console action as (kind, target, requested_by), oldest first."""
    with database.read() as session:
        rows = session.scalars(select(ConsoleAction).order_by(ConsoleAction.id))
        return [(r.kind, r.target, r.requested_by) for r in rows]


class _Recorder(BaseHTTPRequestHandler):
    """Stands where DingTalk would be: answers 500 and remembers every request."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(500)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextlib.contextmanager
def recording_dingtalk() -> Iterator[tuple[str, list[str]]]:
    """A local server where DingTalk would be: yields its URL and the paths it was asked."""
    seen: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Rec", (_Recorder,), {"seen": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()

"""Signing in to the console and asking for actions, each with its audit record (issue 13).

The views in http/admin.py parse the form, call one of these, and render; the throttle, the
password check, the last-login time and the audit trail are decided here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from scim_bridge.directory import admins, console_actions, login_throttle
from scim_bridge.directory.audit import insert_record, record_values
from scim_bridge.directory.db import Database
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import Principal

#: The idp column of the console's audit records: a person acting, not an IdP.
CONSOLE_IDP = "console"


def console_principal(name: str) -> Principal:
    """Return who a console account is in the audit trail (``console:<name>``)."""
    return Principal(token_id=0, name=f"console:{name[:56]}", idp=CONSOLE_IDP, profile="auto")


def record_console(
    session: Session,
    ctx: Context,
    *,
    operation: str,
    target: str | None,
    detail: dict[str, Any],
    status: int = 200,
) -> None:
    """Append a console record to the audit trail, in the session's transaction."""
    record = record_values(
        ctx,
        resource_type="Console",
        resource_id=target,
        operation=operation,
        status=status,
        detail=detail,
    )
    insert_record(Cursor.of(session), record)


class Outcome(enum.Enum):
    """How a sign-in attempt ended."""

    SIGNED_IN = "signed in"
    REFUSED = "wrong name or password"
    THROTTLED = "too many failures"


@dataclass(frozen=True)
class SignIn:
    """A sign-in attempt's outcome, and the account when it succeeded."""

    outcome: Outcome
    admin: admins.Admin | None = None


def sign_in(
    db: Database,
    policy: login_throttle.ThrottlePolicy,
    *,
    name: str,
    password: str,
    address: str,
    context: Callable[[str], Context],
) -> SignIn:
    """Check a name and password, throttled per account and address; audit the attempt.

    ``context(actor)`` gives the audit context (time, request id, client) for the actor."""
    ctx = context(name or "-")
    with db.read() as session:
        if login_throttle.blocked(session, policy, account=name, address=address, now=ctx.now):
            return SignIn(Outcome.THROTTLED)
        admin = admins.check_password(session, name, password)
    with db.write() as session:
        if admin is None:
            login_throttle.record_failure(
                session, policy, account=name, address=address, now=ctx.now
            )
            record_console(
                session, ctx, operation="login", target=None, status=401,
                detail={"error": Outcome.REFUSED.value},
            )  # fmt: skip
            return SignIn(Outcome.REFUSED)
        login_throttle.clear_account(session, account=name)
        admins.record_login(session, admin.id, now=ctx.now)
        record_console(
            session, context(admin.name), operation="login", target=None,
            detail={"role": admin.role},
        )  # fmt: skip
    return SignIn(Outcome.SIGNED_IN, admin)


def request_action(
    db: Database, ctx: Context, admin: admins.Admin, *, kind: str, target: str
) -> console_actions.QueuedAction:
    """Queue an action for the worker, as an admin (a viewer is refused), and audit it."""
    admins.require_admin(admin)
    with db.write() as session:
        action = console_actions.queue_action(
            session, kind, target=target, requested_by=admin.name, now=ctx.now
        )
        record_console(
            session, ctx, operation=action.kind, target=target, detail={"action": action.id}
        )
    return action

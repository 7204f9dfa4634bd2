"""The console's sign-in throttle: refused attempts counted per account and per address.

OWASP's Authentication Cheat Sheet: limit failed attempts per account (a guesser aiming at
one name) and per source (one guesser trying many names). Both counts live in the database
(``login_failures``), so every API process sees the same ones. A success clears the
account's failures; old rows are deleted as the window moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import LoginFailure


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures a window allows per account and per address."""

    window: timedelta
    per_account: int
    per_address: int


def blocked(
    session: Session, policy: ThrottlePolicy, *, account: str, address: str, now: datetime
) -> bool:
    """Whether this account or address has used up its failures for the window."""
    since = now - policy.window
    recent = select(func.count()).select_from(LoginFailure).where(LoginFailure.at > since)
    by_account = session.scalar(recent.where(LoginFailure.account == account[:64])) or 0
    by_address = session.scalar(recent.where(LoginFailure.address == address[:64])) or 0
    return by_account >= policy.per_account or by_address >= policy.per_address


def record_failure(
    session: Session, policy: ThrottlePolicy, *, account: str, address: str, now: datetime
) -> None:
    """Count one refused attempt, and forget the ones older than the window."""
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - policy.window))
    session.add(LoginFailure(at=now, account=account[:64], address=address[:64]))


def clear_account(session: Session, *, account: str) -> None:
    """Forget an account's failures after it signed in (its owner knows the password)."""
    session.execute(delete(LoginFailure).where(LoginFailure.account == account[:64]))

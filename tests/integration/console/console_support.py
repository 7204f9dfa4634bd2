"""Helpers the console tests share: a hand-moved clock, accounts, signing in, CSRF tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from scim_bridge.directory import admins
from scim_bridge.directory.db import Database

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
#: scrypt's N for the test accounts: the stored hash carries it, so signing in is quick.
TEST_COST = 2**10
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(**delta)


def add_account(database: Database, name: str, role: str = "admin") -> None:
    """Create a console account with PASSWORD."""
    with database.write() as session:
        admins.create_admin(
            session,
            name,
            role=role,
            password_hash=admins.hash_password(PASSWORD, cost=TEST_COST),
            now=T0,
        )


def csrf_of(page: Any) -> str:
    """Return the CSRF token a console page's forms carry."""
    found = _CSRF.search(page.get_data(as_text=True))
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: Any, name: str, password: str = PASSWORD) -> Any:
    """Open the sign-in page and post the form; return the answer to the post."""
    token = csrf_of(client.get("/admin/login"))
    return client.post(
        "/admin/login", data={"csrf_token": token, "name": name, "password": password}
    )

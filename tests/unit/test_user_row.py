"""The plain row the User services write through carries every column of the users table."""

from __future__ import annotations

from dataclasses import fields

from scim_bridge.directory.models import User
from scim_bridge.directory.rows import UserRow


def test_a_user_row_has_exactly_the_columns_of_the_users_table() -> None:
    # A row is built from a SELECT of every column and written back whole: a column the row
    # lacks would fail every PATCH and PUT (TypeError), one it adds would fail every write.
    assert {f.name for f in fields(UserRow)} == set(User.__table__.c.keys())

"""Fixtures of the console tests: an app with a hand-moved clock, accounts, a signed-in client."""

from __future__ import annotations

from typing import Any

import pytest
from console_support import Clock, add_account, sign_in

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database
from scim_bridge.settings import Settings


@pytest.fixture
def clock() -> Clock:
    """The console's clock."""
    return Clock()


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    """Settings with a small throttle, so the tests guess a few times only."""
    return settings.replace(admin_login_failures_per_account=3, admin_login_failures_per_address=5)


@pytest.fixture
def console_app(console_settings: Settings, database: Database, clock: Clock) -> Any:
    """The app with the hand-moved clock, an admin ``ada`` and a viewer ``vic``."""
    add_account(database, "ada", "admin")
    add_account(database, "vic", "viewer")
    return create_app(console_settings, db=database, clock=clock)


@pytest.fixture
def as_admin(console_app: Any) -> Any:
    """A client signed in as the admin."""
    client = console_app.test_client()
    assert sign_in(client, "ada").status_code == 302
    return client


@pytest.fixture
def as_viewer(console_app: Any) -> Any:
    """A client signed in as the viewer."""
    client = console_app.test_client()
    assert sign_in(client, "vic").status_code == 302
    return client

"""Fixtures for the IdP conformance suites (helpers live in idp_support.py)."""

from __future__ import annotations

from typing import Any

import pytest
from idp_support import OKTA_UA, IdpClient, client_for

from scim_bridge.directory.db import Database


@pytest.fixture
def okta(app: Any, database: Database) -> IdpClient:
    """Okta's provisioning client: an ``okta`` token and Okta's User-Agent."""
    return client_for(app, database, "okta", "okta", {"User-Agent": OKTA_UA})


@pytest.fixture
def entra(app: Any, database: Database) -> IdpClient:
    """Entra's provisioning client: an ``entra`` token (the notes record no User-Agent)."""
    return client_for(app, database, "entra", "entra", {})


@pytest.fixture
def strict(app: Any, database: Database) -> IdpClient:
    """An RFC-only client: a ``strict`` token."""
    return client_for(app, database, "strict", "strict", {})

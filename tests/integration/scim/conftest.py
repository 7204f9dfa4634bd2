"""Fixtures of the SCIM integration tests."""

from __future__ import annotations

from typing import Any

import pytest
from isolation_support import Idps, make_idps

from scim_bridge.directory.db import Database


@pytest.fixture
def idps(app: Any, database: Database) -> Idps:
    """The four tokens of the isolation tests: IdP A, IdP B, shared, and A read-only."""
    return make_idps(app, database)

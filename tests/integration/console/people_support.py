"""Helpers of the console's people tests (issue 13): a held clock, SCIM bodies, a worker."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_mobiles = itertools.count(13900000000)


class HeldClock:
    """The app's, the worker's and the page's clock: held still, moved only by the test.

    ``catch_up`` holds it at the real time now (never backwards), so that what was written
    so far is due when the worker runs, and nothing it postpones becomes due by itself."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def catch_up(self) -> None:
        """Hold the clock at the real time now."""
        self.now = max(self.now, datetime.now(UTC))

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


def person(name: str, *, mobile: bool = True, **extra: Any) -> dict[str, Any]:
    """A SCIM user whose DingTalk userid will be ``name`` (its externalId)."""
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": f"{name.title()} Tester",
        "emails": [{"value": f"{name}.work@example.com", "type": "work", "primary": True}],
        **extra,
    }
    if mobile:
        body["phoneNumbers"] = [{"value": f"+86 {next(_mobiles)}", "type": "mobile"}]
    return body


def add_mobile(number: str) -> dict[str, Any]:
    """A SCIM PATCH giving a user a mobile number."""
    return {
        "schemas": [PATCH],
        "Operations": [
            {"op": "add", "path": "phoneNumbers", "value": [{"value": number, "type": "mobile"}]}
        ],
    }

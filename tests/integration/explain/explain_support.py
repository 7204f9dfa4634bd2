"""Helpers of the explain tests: a held clock and SCIM bodies."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_mobiles = itertools.count(13700000000)


class Clock:
    """The worker's and explain's clock: held still, moved only by the test.

    The SCIM app stamps outbox rows with the real time; ``catch_up`` brings the held time
    past them before the worker runs, so everything written so far is due, and nothing the
    worker postpones becomes due by itself.
    """

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def catch_up(self) -> None:
        """Hold the clock at the real time now (never backwards)."""
        self.now = max(self.now, datetime.now(UTC))

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


def person(name: str, *, mobile: bool = True, **extra: Any) -> dict[str, Any]:
    """A SCIM user whose DingTalk userid will be ``name`` (its externalId)."""
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": name.title(),
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
        **extra,
    }
    if mobile:
        body["phoneNumbers"] = [{"value": f"+86 {next(_mobiles)}", "type": "mobile"}]
    return body


def replace(**values: Any) -> dict[str, Any]:
    """A SCIM PATCH replacing top-level attributes."""
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "value": values}]}

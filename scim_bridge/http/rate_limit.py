"""Per-token rate limits and caps on concurrent requests for /scim/v2 (issue 14).

Every authenticated SCIM request first takes one of its token's concurrent-request slots in
this API process, then is charged to the token's rate budget (directory/rate_limits.py);
either refusal is a 429 with a SCIM Error body and Retry-After, raised before the view runs,
so a refused request stores nothing. The slot is given back in the blueprint's teardown,
which Flask runs on every exit path, an exception's included.

Why 429 for the concurrency cap too, not 503: RFC 6585 §4 makes 429 the answer to one
client's excess ("too many requests"), while 503 (RFC 9110 §15.6.4) says the server as a
whole is overloaded; here one token is over its own share and the others are served. Okta
and Entra both back off on 429 and honour Retry-After; a 5xx counts against the app's health
in Entra's provisioning (quarantine), which an over-eager client should not cause.

A /Bulk request is charged its operation count (``charge_bulk``): one request carrying a
thousand writes is a thousand writes' work, and charging it as one would make /Bulk a way
around the limit. The charge is capped at the burst, so every /Bulk the
ServiceProviderConfig allows is admitted once the budget has refilled.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import g

from scim_bridge.directory.db import Database
from scim_bridge.directory.rate_limits import (
    LeasingRateLimiter,
    Limits,
    LocalRateLimiter,
    RateLimiter,
    SharedRateLimiter,
    effective_limits,
)
from scim_bridge.directory.tokens import Principal
from scim_bridge.errors import TooManyRequests
from scim_bridge.http.runtime import Runtime

#: Where the slot a request holds is kept on ``flask.g`` (absent: it holds none).
_SLOT = "rate_limit_slot"


class ConcurrencyGate:
    """How many requests of each token are in flight in this process."""

    def __init__(self) -> None:
        self._in_flight: dict[int, int] = {}
        self._lock = threading.Lock()

    def enter(self, token_id: int, cap: int) -> bool:
        """Take a slot for a token if it holds fewer than ``cap``; return whether it did."""
        with self._lock:
            held = self._in_flight.get(token_id, 0)
            if held >= cap:
                return False
            self._in_flight[token_id] = held + 1
            return True

    def leave(self, token_id: int) -> None:
        """Give a token's slot back."""
        with self._lock:
            held = self._in_flight.get(token_id, 0) - 1
            if held > 0:
                self._in_flight[token_id] = held
            else:
                self._in_flight.pop(token_id, None)


def limiter_for(db: Database) -> RateLimiter:
    """Return where a database's deployment keeps rate budgets: in PostgreSQL, shared by
    every process (leased a few permits at a time at high rates); with SQLite (one host),
    in each process (docs/security.md)."""
    if db.dialect == "postgresql":
        return LeasingRateLimiter(SharedRateLimiter(db.transaction))
    return LocalRateLimiter()


class TokenLimits:
    """The limits of one API process's SCIM requests: rate budgets and concurrency slots."""

    def __init__(self, runtime: Runtime, limiter: RateLimiter | None = None) -> None:
        settings = runtime.settings
        self.clock = runtime.clock
        self.defaults = Limits(
            rate_per_second=settings.scim_rate_per_second,
            burst=settings.scim_rate_burst,
            max_concurrent=settings.scim_max_concurrent,
        )
        self.limiter = limiter if limiter is not None else limiter_for(runtime.db)
        self.gate = ConcurrencyGate()

    def of(self, principal: Principal) -> Limits:
        """Return a token's limits: its own, else the settings' defaults."""
        return effective_limits(
            self.defaults,
            rate_per_second=principal.rate_per_second,
            burst=principal.rate_burst,
            max_concurrent=principal.max_concurrent,
        )

    def enter(self, principal: Principal) -> None:
        """Admit an authenticated request, or raise 429 (a slot first, then the budget)."""
        limits = self.of(principal)
        if limits.max_concurrent:
            if not self.gate.enter(principal.token_id, limits.max_concurrent):
                raise TooManyRequests(
                    f"token {principal.name!r} already has {limits.max_concurrent} requests "
                    "in progress (its limit of concurrent requests); retry after 1 second",
                    retry_after=1,
                )
            setattr(g, _SLOT, principal.token_id)
        self.charge(principal, limits, 1)

    def charge_bulk(self, body: dict[str, Any]) -> None:
        """Charge a /Bulk request's further operations (the request itself paid for one)."""
        operations = body.get("Operations")
        count = len(operations) if isinstance(operations, list) else 1
        if count > 1:
            principal: Principal = g.principal
            self.charge(principal, self.of(principal), count - 1)

    def charge(self, principal: Principal, limits: Limits, cost: int) -> None:
        """Charge ``cost`` requests to a token's budget, or raise 429 with Retry-After."""
        if not limits.limited:
            return
        now = self.clock().timestamp()
        decision = self.limiter.check(principal.token_id, limits, now=now, cost=cost)
        if not decision.admitted:
            raise TooManyRequests(
                f"token {principal.name!r} is over its rate limit of "
                f"{limits.rate_per_second:g} requests per second (burst {limits.burst}); "
                f"retry after {decision.retry_after} second(s)",
                retry_after=decision.retry_after,
            )

    def leave(self) -> None:
        """Give back the slot this request holds, if any (every exit path: teardown)."""
        token_id = g.pop(_SLOT, None)
        if token_id is not None:
            self.gate.leave(token_id)

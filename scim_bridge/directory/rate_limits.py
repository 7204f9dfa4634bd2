"""Per-token rate limits (issue 14): GCRA, kept in the database or in this process.

GCRA (the generic cell rate algorithm, ITU-T I.371; a token bucket seen from its clock) keeps
one number per token: the theoretical arrival time ``tat`` of its next request. A request
costing ``n`` is admitted when ``max(tat, now) + n·T - burst·T <= now`` (``T`` = 1 / rate),
and moves ``tat`` to ``max(tat, now) + n·T``; a refused request changes nothing. A full
bucket therefore admits ``burst`` requests at once, then one every ``T``.

Two places keep ``tat``:

- ``SharedRateLimiter``: a row per token in ``token_rate_state``, moved by one atomic
  ``INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`` per request, so every API process
  (and every host) on the same PostgreSQL database draws on one budget. The table is UNLOGGED
  on PostgreSQL (migration 0014): its writes skip the WAL and the flush at commit.
- ``LocalRateLimiter``: a dict in this process, for SQLite (one host, where a write per request
  would queue behind the single writer). The budget is then per API process.

Both run the same ``admit`` arithmetic, so their answers are identical for one process.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, func, select, type_coerce, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import NullType

from scim_bridge.directory.models import Token, TokenRateState
from scim_bridge.directory.prepared import Cursor, Prepared, one
from scim_bridge.errors import ConfigError

#: Beyond these a number is a typo, not a limit (and GCRA's float arithmetic stays exact).
MAX_RATE = 1_000_000.0
MAX_BURST = 1_000_000
MAX_CONCURRENT = 10_000
#: Seconds of tolerance for float rounding in GCRA's sums (a microsecond: far below any rate).
SLACK = 1e-6


@dataclass(frozen=True)
class Limits:
    """The limits one token's requests are held to; 0 switches a limit off."""

    rate_per_second: float
    burst: int
    max_concurrent: int

    @property
    def limited(self) -> bool:
        """Return whether requests are rate limited at all."""
        return self.rate_per_second > 0


@dataclass(frozen=True)
class Decision:
    """A limiter's answer: admitted, or refused with the whole seconds to wait (>= 1)."""

    admitted: bool
    retry_after: int = 0


def effective_limits(
    defaults: Limits,
    *,
    rate_per_second: float | None,
    burst: int | None,
    max_concurrent: int | None,
) -> Limits:
    """Return a token's limits: its own where it has them, else the defaults."""
    return Limits(
        rate_per_second=defaults.rate_per_second if rate_per_second is None else rate_per_second,
        burst=defaults.burst if burst is None else burst,
        max_concurrent=defaults.max_concurrent if max_concurrent is None else max_concurrent,
    )


def charge(limits: Limits, cost: int) -> tuple[float, float]:
    """Return GCRA's increment (cost·T) and tolerance (burst·T) for a request, in seconds.

    A cost above the burst is charged as the burst: such a request could otherwise never be
    admitted (a /Bulk of 1,000 operations against a burst of 200 would wait for ever)."""
    interval = 1.0 / limits.rate_per_second
    burst = max(1, limits.burst)
    # SLACK: ``tat`` is a sum of float intervals (0.2 is not exact in binary); without it
    # the last request of a burst can miss by 1e-16 s and a burst of 10 admit only 9.
    return min(max(1, cost), burst) * interval, burst * interval + SLACK


def admit(tat: float | None, now: float, *, increment: float, tolerance: float) -> float | None:
    """Return the new ``tat`` if a request is admitted at ``now``, or None if it is refused."""
    start = now if tat is None else max(tat, now)
    if start + increment - tolerance > now:
        return None
    return start + increment


def retry_after(tat: float, now: float, *, increment: float, tolerance: float) -> int:
    """Return the whole seconds until a refused request would be admitted (RFC 9110 §10.2.3
    has Retry-After in whole seconds; at least 1, so a client never retries at once)."""
    wait = max(tat, now) + increment - tolerance - now
    return max(1, math.ceil(wait - 1e-9))


class RateLimiter(Protocol):
    """Admits or refuses one request of a token against its limits."""

    def check(self, token_id: int, limits: Limits, *, now: float, cost: int = 1) -> Decision:
        """Charge ``cost`` requests to a token at ``now`` (seconds since the epoch)."""
        ...  # pragma: no cover - a Protocol


class LocalRateLimiter:
    """GCRA state in this process (SQLite deployments: the budget is per API process)."""

    def __init__(self) -> None:
        self._tat: dict[int, float] = {}
        self._lock = threading.Lock()

    def check(self, token_id: int, limits: Limits, *, now: float, cost: int = 1) -> Decision:
        """Charge ``cost`` requests to a token at ``now``."""
        increment, tolerance = charge(limits, cost)
        with self._lock:
            tat = self._tat.get(token_id)
            new = admit(tat, now, increment=increment, tolerance=tolerance)
            if new is not None:
                self._tat[token_id] = new
                return Decision(True)
        assert tat is not None  # an empty bucket always admits (increment <= tolerance)
        return Decision(False, retry_after(tat, now, increment=increment, tolerance=tolerance))


def _admit_statement(dialect: str) -> Executable:
    """The one atomic statement of a shared check: admit and move ``tat``, or touch nothing.

    A first request inserts the row; later ones update it only where GCRA admits them, and
    RETURNING says which happened (no row back: refused). Concurrent requests of one token
    queue on the row lock for the few microseconds the update takes; PostgreSQL re-checks
    the WHERE against the row they then see, so the budget is never overspent."""
    greatest = func.greatest if dialect == "postgresql" else func.max  # SQLite: scalar max()
    stmt: Any = (
        pg_insert(TokenRateState) if dialect == "postgresql" else sqlite_insert(TokenRateState)
    )
    now: Any = bindparam("now")
    increment: Any = bindparam("increment")
    start = greatest(TokenRateState.tat, now)
    return (
        stmt.values(token_id=bindparam("token_id"), tat=bindparam("fresh"))
        .on_conflict_do_update(
            index_elements=[TokenRateState.token_id],
            set_={"tat": start + increment},
            where=start + increment - bindparam("tolerance") <= now,
        )
        .returning(TokenRateState.tat)
    )


_ADMIT = Prepared(_admit_statement)
_TAT = Prepared(
    # NullType: the driver's float as it is (see tokens._COLUMNS).
    select(type_coerce(TokenRateState.tat, NullType())).where(
        TokenRateState.token_id == bindparam("token_id")
    )
)


class SharedRateLimiter:
    """GCRA state in the database: one budget per token for every process that shares it."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Cursor]]) -> None:
        # Database.transaction: a Session-free write transaction, committed on exit.
        self._transaction = transaction

    def check(self, token_id: int, limits: Limits, *, now: float, cost: int = 1) -> Decision:
        """Charge ``cost`` requests to a token at ``now``: one statement when admitted."""
        increment, tolerance = charge(limits, cost)
        with self._transaction() as cur:
            admitted = _ADMIT.rows(
                cur,
                token_id=token_id,
                now=now,
                increment=increment,
                tolerance=tolerance,
                fresh=now + increment,
            )
            if admitted:
                return Decision(True)
            # Refused: read the state that refused it, for Retry-After (the refusal path only).
            found = one(_TAT.rows(cur, token_id=token_id))
        tat = now if found is None else float(found[0])
        return Decision(False, retry_after(tat, now, increment=increment, tolerance=tolerance))


@dataclass
class _Lease:
    """Permits one process holds of a token's shared budget."""

    left: int = 0
    lapses: float = 0.0
    #: The next lease's size: doubled when a request finds the lease spent before it
    #: lapsed, halved when one lapses with permits unused: a process takes what it spends.
    size: int = 1


class LeasingRateLimiter:
    """A shared limiter's budget, taken a few permits at a time (PostgreSQL deployments).

    One statement per request costs an admitted SCIM request ~0.5 ms of this process's CPU
    on PostgreSQL (bench/rate_limit_cost.py), a large share of what the request itself costs.
    So a process charges the shared row for a *lease* of permits at once and spends them
    locally for at most ``window`` seconds. Every permit is charged to the shared budget
    before it is spent, so the rate over time is never exceeded; a request may be admitted
    up to ``window`` after its permit was charged.

    A lease's size adapts to what this process spends: it starts at one permit (one
    statement per request, exactly the shared limiter), doubles each time a request finds
    the lease spent before it lapsed, and halves each time one lapses unused, up to the
    rate's worth of ``window`` (at most a quarter of the burst). Permits that lapse unused
    are lost to the token, so a token is refused a little early, never late; at a low or
    spread-out rate leases stay at one permit and nothing is lost."""

    def __init__(self, shared: RateLimiter, *, window: float = 0.05) -> None:
        self._shared = shared
        self._window = window
        self._leases: dict[int, _Lease] = {}
        self._lock = threading.Lock()

    def max_lease(self, limits: Limits) -> int:
        """Return the most permits one lease may take."""
        burst = max(1, limits.burst)
        return min(max(1, burst // 4), max(1, int(limits.rate_per_second * self._window)))

    def check(self, token_id: int, limits: Limits, *, now: float, cost: int = 1) -> Decision:
        """Spend leased permits if enough are left, else lease more from the shared row."""
        cost = min(max(1, cost), max(1, limits.burst))  # as charge() caps it
        with self._lock:
            lease = self._leases.setdefault(token_id, _Lease())
            if now < lease.lapses and lease.left >= cost:
                lease.left -= cost
                return Decision(True)
            if now < lease.lapses:  # spent before it lapsed: more is needed per window
                lease.size = min(self.max_lease(limits), lease.size * 2)
            elif lease.left > 0:  # lapsed with permits unused: too many were taken
                lease.size = max(1, lease.size // 2)
            size = min(max(1, limits.burst), max(lease.size, cost))
        decision = self._shared.check(token_id, limits, now=now, cost=size)
        if not decision.admitted and size > cost:
            # Not enough for a whole lease: exactly this request's cost may still fit.
            size = cost
            decision = self._shared.check(token_id, limits, now=now, cost=size)
        if decision.admitted:
            with self._lock:
                lease = self._leases[token_id]
                kept = lease.left if now < lease.lapses else 0
                lease.left, lease.lapses = kept + size - cost, now + self._window
        return decision


# --- per-token overrides (`scim-bridge token limit`) ----------------------------------------


def check_limits(
    *, rate_per_second: float | None, burst: int | None, max_concurrent: int | None
) -> None:
    """Refuse limits that cannot be meant, naming the option and the fix."""
    if rate_per_second is not None and not 0 <= rate_per_second <= MAX_RATE:
        raise ConfigError(
            f"--rate must be between 0 (no limit) and {MAX_RATE:,.0f} requests per second, "
            f"got {rate_per_second:g}"
        )
    if burst is not None and not 1 <= burst <= MAX_BURST:
        raise ConfigError(f"--burst must be between 1 and {MAX_BURST:,} requests, got {burst}")
    if max_concurrent is not None and not 0 <= max_concurrent <= MAX_CONCURRENT:
        raise ConfigError(
            f"--max-concurrent must be between 0 (no cap) and {MAX_CONCURRENT:,}, "
            f"got {max_concurrent}"
        )


def set_token_limits(
    session: Session,
    name: str,
    *,
    rate_per_second: float | None,
    burst: int | None,
    max_concurrent: int | None,
    reset: bool = False,
) -> Token:
    """Give a token its own limits (None leaves one as it is; ``reset`` returns all three to
    the settings' defaults) and return it."""
    check_limits(rate_per_second=rate_per_second, burst=burst, max_concurrent=max_concurrent)
    token = session.scalar(select(Token).where(Token.name == name).with_for_update())
    if token is None:
        raise ConfigError(f"no token named {name!r}; `scim-bridge token list` shows them")
    values: dict[str, float | int | None] = (
        {"rate_per_second": None, "rate_burst": None, "max_concurrent": None} if reset else {}
    )
    for column, value in (
        ("rate_per_second", rate_per_second),
        ("rate_burst", burst),
        ("max_concurrent", max_concurrent),
    ):
        if value is not None:
            values[column] = value
    if values:
        session.execute(update(Token).where(Token.id == token.id).values(**values))
        session.refresh(token)
    return token


def describe_limits(token: Token, defaults: Limits) -> str:
    """Return a token's limits in words, saying which come from the settings."""
    mine = effective_limits(
        defaults,
        rate_per_second=token.rate_per_second,
        burst=token.rate_burst,
        max_concurrent=token.max_concurrent,
    )
    rate = f"{mine.rate_per_second:g}/s" if mine.limited else "unlimited"

    def origin(own: object) -> str:
        return "" if own is not None else " (default)"

    concurrent = str(mine.max_concurrent) if mine.max_concurrent else "no cap"
    return (
        f"rate {rate}{origin(token.rate_per_second)}, "
        f"burst {mine.burst}{origin(token.rate_burst)}, "
        f"concurrent {concurrent}{origin(token.max_concurrent)}"
    )

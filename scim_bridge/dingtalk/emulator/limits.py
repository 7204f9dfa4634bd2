"""Tokens, flow control and fault injection: dingtalk-api.md §2 and §8, plus deliberate failures.

None of these lock; the Emulator calls them while it holds its one lock.
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass, field

from scim_bridge.dingtalk.emulator.wire import (
    THROTTLED,
    TOKEN_BLANK,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    GatewayError,
)


@dataclass
class _Token:
    app_key: str
    expires_at: float


@dataclass
class TokenStore:
    """One store shared by both API families (dingtalk-api.md §2.2 UNCERTAIN: shared)."""

    tokens: dict[str, _Token] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)  # app_key -> its latest token

    def issue(self, app_key: str, *, now: float, ttl: float) -> tuple[str, float]:
        """Return the app's token and its lifetime; same token, lifetime extended, while valid.

        dingtalk-api.md §2.1: fetching again while the token is valid returns the same token and
        extends its lifetime; after expiry a new one is issued.
        """
        token = self.current.get(app_key)
        if token is not None and self.tokens[token].expires_at > now:
            self.tokens[token].expires_at = now + ttl
            return token, ttl
        token = secrets.token_hex(16)
        self.tokens[token] = _Token(app_key, now + ttl)
        self.current[app_key] = token
        return token, ttl

    def check(self, token: str | None, *, now: float) -> str:
        """Return the app key a token belongs to, or raise the token refusal (§2.3)."""
        if not token:
            raise GatewayError(TOKEN_BLANK)
        known = self.tokens.get(token)
        if known is None:
            raise GatewayError(TOKEN_INVALID)
        if known.expires_at <= now:
            raise GatewayError(TOKEN_EXPIRED)
        return known.app_key

    def expire_all(self, *, now: float) -> None:
        """Make every issued token expired (answers 42001 / InvalidAuthentication from now on)."""
        for token in self.tokens.values():
            token.expires_at = min(token.expires_at, now - 1)


@dataclass
class RateLimiter:
    """Count calls per (app, API) in fixed 1-second windows, as DingTalk does (§8)."""

    windows: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    def admit(self, app_key: str, api: str, *, qps: float, now: float) -> None:
        """Count one call or raise the throttle refusal; qps 0 means unlimited."""
        if qps <= 0:
            return
        second = math.floor(now)
        key = (app_key, api)
        start, used = self.windows.get(key, (second, 0))
        if start != second:
            start, used = second, 0
        if used + 1 > qps:
            # Refused calls don't count (§8: throttled calls aren't counted against the quota).
            self.windows[key] = (start, used)
            raise GatewayError(THROTTLED)
        self.windows[key] = (start, used + 1)


@dataclass
class IpLimiter:
    """Ban an IP over ``limit`` requests per ``window`` seconds for ``ban`` seconds (§8)."""

    windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    banned_until: dict[str, float] = field(default_factory=dict)

    def banned(self, ip: str, *, limit: int | None, window: float, ban: float, now: float) -> bool:
        """Count one request from ``ip`` and say whether it must get the ban answer."""
        if limit is None:
            return False
        until = self.banned_until.get(ip)
        if until is not None:
            if now < until:
                return True
            del self.banned_until[ip]
            self.windows.pop(ip, None)
        slot = math.floor(now / window) if window > 0 else 0
        start, used = self.windows.get(ip, (slot, 0))
        if start != slot:
            start, used = slot, 0
        used += 1
        self.windows[ip] = (start, used)
        if used > limit:
            self.banned_until[ip] = now + ban
            return True
        return False


class FaultPlan:
    """Decide, reproducibly from a seed, which calls get an injected fault and of what kind."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - determinism, not security

    def reseed(self, seed: int) -> None:
        """Restart the sequence of decisions."""
        self.rng = random.Random(seed)  # noqa: S311 - determinism, not security

    def draw(self, *, fail_rate: float, kinds: tuple[str, ...]) -> str | None:
        """Return the fault for the next eligible call, or None. Two draws per call, always."""
        roll = self.rng.random()
        pick = self.rng.random()
        if fail_rate <= 0 or not kinds or roll >= fail_rate:
            return None
        return kinds[min(int(pick * len(kinds)), len(kinds) - 1)]

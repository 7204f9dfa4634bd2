"""Bearer tokens: high entropy, stored only as a SHA-256 hash, checked in constant time.

A token stands for one IdP (its ``idp`` label): it sees and changes only that IdP's resources,
unless it is ``shared`` (every IdP's, for a migration or an admin tool). A ``read_only`` token
may read and search, never write. Rotation gives the same token row a new value; the value it
replaces keeps working until the overlap ends, so the IdP's configuration can be switched
without a failed provisioning cycle (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, type_coerce, update
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from scim_bridge.directory.models import Token
from scim_bridge.directory.prepared import Cursor, Prepared, one
from scim_bridge.errors import ConfigError

TOKEN_PREFIX = "scb_"
PROFILES = ("auto", "okta", "entra", "entra-additive", "strict")
#: last_used_at is refreshed at most this often, so auth does not write on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
#: The longest overlap a rotation may give the replaced value.
MAX_OVERLAP = timedelta(days=365)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name, the IdP it stands for, its compatibility profile and
    what it may do."""

    token_id: int
    name: str
    idp: str
    profile: str
    #: Sees and writes every IdP's resources.
    shared: bool = False
    #: May read and search, never write.
    read_only: bool = False
    #: Its own rate limits (issue 14; None: the settings' defaults). directory/rate_limits.py.
    rate_per_second: float | None = None
    rate_burst: int | None = None
    max_concurrent: int | None = None

    @property
    def scope(self) -> str | None:
        """Return the IdP whose resources this caller sees, or None for every IdP (shared)."""
        return None if self.shared else self.idp


def hash_token(token: str) -> str:
    """Return the stored form of a token (SHA-256; tokens carry 256 bits of entropy)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_value() -> tuple[str, str, str]:
    """Return a fresh plaintext, its hash and the prefix shown by `token list`."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return plaintext, hash_token(plaintext), plaintext[: len(TOKEN_PREFIX) + 4]


def create_token(
    session: Session,
    name: str,
    *,
    profile: str = "auto",
    idp: str | None = None,
    shared: bool = False,
    read_only: bool = False,
    now: datetime,
) -> tuple[Token, str]:
    """Create a token and return it with its plaintext, which is never stored or shown again."""
    name = name.strip()
    if not name or len(name) > 128:
        raise ConfigError("token name must be 1-128 characters; choose a name like okta-prod")
    if profile not in PROFILES:
        raise ConfigError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    label = name if idp is None else idp.strip()
    if not label or len(label) > 128:
        raise ConfigError("--idp must be 1-128 characters; choose a label like okta-prod")
    held = session.scalar(select(Token).where(Token.name == name))
    if held is not None and held.revoked_at is not None:
        # A name stays with the token that had it: the audit trail names tokens as actors,
        # so a reused name would make a revoked token's history read as the new one's.
        raise ConfigError(
            f"token {name!r} was revoked on {held.revoked_at:%Y-%m-%d}, and a revoked token's "
            f"name stays taken so the audit trail names one token; choose another name, e.g. "
            f"`scim-bridge token create {name}-2 --idp {held.idp}` for the same IdP"
        )
    if held is not None:
        raise ConfigError(
            f"a token named {name!r} already exists; choose another name, or give it a new "
            f"value with `scim-bridge token rotate {name}`"
        )
    plaintext, digest, prefix = _new_value()
    token = Token(
        name=name,
        token_hash=digest,
        prefix=prefix,
        profile=profile,
        idp=label,
        shared=shared,
        read_only=read_only,
        created_at=now,
    )
    session.add(token)
    session.flush()
    return token, plaintext


#: The token columns auth needs: run on every request, so prepared once. The current value is
#: looked up first (one indexed lookup); the replaced value of a rotation only on a miss.
_COLUMNS = (
    Token.id,
    Token.name,
    Token.idp,
    Token.profile,
    Token.shared,
    Token.read_only,
    Token.revoked_at,
    Token.last_used_at,
    # As the driver returns it: a float8's float (SQLAlchemy's Float result processor needs
    # the column's type code, which a Prepared statement does not have on psycopg).
    type_coerce(Token.rate_per_second, NullType()),
    Token.rate_burst,
    Token.max_concurrent,
)
_BY_HASH = Prepared(
    select(*_COLUMNS, Token.token_hash).where(Token.token_hash == bindparam("digest"))
)
_BY_PREVIOUS_HASH = Prepared(
    select(*_COLUMNS, Token.previous_hash, Token.previous_expires_at).where(
        Token.previous_hash == bindparam("digest")
    )
)


def _aware(when: datetime | None, now: datetime) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they were stored as UTC."""
    if when is not None and when.tzinfo is None:
        return when.replace(tzinfo=now.tzinfo)
    return when


def authenticate(reader: Cursor, presented: str, *, now: datetime) -> tuple[Principal | None, bool]:
    """Return the Principal for a bearer token (None if unknown, revoked or a replaced value
    past its overlap) and whether its last-used time is stale enough to record."""
    digest = hash_token(presented)
    # Revocation is read on every request, so a revoked token stops working at once.
    found = one(_BY_HASH.rows(reader, digest=digest))
    if found is None:
        found = one(_BY_PREVIOUS_HASH.rows(reader, digest=digest))
        if found is None:
            return None, False
        expires_at = _aware(found[-1], now)
        if expires_at is None or now >= expires_at:
            return None, False  # the rotation's overlap is over
        found = found[:-1]
    token_id, name, idp, profile, shared, read_only, revoked_at, last_used_at = found[:8]
    rate, burst, concurrent, stored = found[8:]
    # The lookup is by hash; compare_digest keeps the final check constant-time regardless.
    if not hmac.compare_digest(stored, digest) or revoked_at is not None:
        return None, False
    last = _aware(last_used_at, now)
    stale = last is None or now - last >= LAST_USED_RESOLUTION
    principal = Principal(
        token_id=token_id,
        name=name,
        idp=idp,
        profile=profile,
        shared=bool(shared),
        read_only=bool(read_only),
        rate_per_second=rate,
        rate_burst=burst,
        max_concurrent=concurrent,
    )
    return principal, stale


def touch(session: Session, token_id: int, *, now: datetime) -> None:
    """Record that a token was used now (for `token list` and spotting unused tokens)."""
    session.execute(update(Token).where(Token.id == token_id).values(last_used_at=now))


def list_tokens(session: Session) -> list[Token]:
    """Return every token, newest first (hashes only)."""
    return list(session.scalars(select(Token).order_by(Token.created_at.desc(), Token.id.desc())))


def _named(session: Session, name: str) -> Token:
    token = session.scalar(select(Token).where(Token.name == name).with_for_update())
    if token is None:
        raise ConfigError(f"no token named {name!r}; `scim-bridge token list` shows them")
    return token


def overlap_end(token: Token, *, now: datetime) -> datetime | None:
    """Return when a rotated token's replaced value stops working, if it still works now."""
    expires_at = _aware(token.previous_expires_at, now)
    if token.previous_hash is None or token.revoked_at is not None or expires_at is None:
        return None
    return expires_at if expires_at > now else None


def rotate_token(
    session: Session, name: str, *, overlap: timedelta, now: datetime
) -> tuple[Token, str]:
    """Give a token a new value and return it with the plaintext; the value it replaces keeps
    working for ``overlap`` (a value replaced earlier stops at once)."""
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise ConfigError(
            f"the overlap must be between 0 and {MAX_OVERLAP.days} days; pass e.g. --overlap 24h"
        )
    token = _named(session, name)
    if token.revoked_at is not None:
        raise ConfigError(
            f"token {name!r} is revoked and cannot be rotated; create one under another name "
            "with `scim-bridge token create NAME --idp IDP`"
        )
    plaintext, digest, prefix = _new_value()
    keep = overlap > timedelta(0)
    token.previous_hash = token.token_hash if keep else None
    token.previous_expires_at = now + overlap if keep else None
    token.token_hash = digest
    token.prefix = prefix
    session.flush()
    return token, plaintext


def revoke_token(session: Session, name: str, *, now: datetime) -> Token:
    """Revoke a token by name: its value, and a rotation's replaced value, fail from now on."""
    token = _named(session, name)
    if token.revoked_at is None:
        token.revoked_at = now
    if token.previous_expires_at is not None:
        token.previous_expires_at = min(_aware(token.previous_expires_at, now) or now, now)
    return token


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 3600}


def parse_duration(text: str, *, what: str = "--overlap") -> timedelta:
    """Parse ``30m``, ``24h``, ``7d`` or ``90s`` (a bare number is hours) into a timedelta."""
    found = _DURATION.match(text)
    if found is None:
        raise ConfigError(f"{what} must be a duration like 30m, 24h or 7d, got {text!r}")
    seconds = float(found.group(1)) * _UNITS[found.group(2).lower()]
    if seconds > MAX_OVERLAP.total_seconds():
        raise ConfigError(f"{what} must be at most {MAX_OVERLAP.days} days, got {text!r}")
    return timedelta(seconds=seconds)


def describe(token: Token, *, now: datetime) -> dict[str, str]:
    """Return what `token list` shows of a token: never its value or hash."""
    fmt = "%Y-%m-%d %H:%M:%S"
    access = ", ".join(
        word for word, on in (("shared", token.shared), ("read-only", token.read_only)) if on
    )
    last_used = _aware(token.last_used_at, now)
    overlap = overlap_end(token, now=now)
    if token.revoked_at is not None:
        status = "revoked"
    elif overlap is not None:
        status = f"active; old value until {overlap.strftime(fmt)}"
    else:
        status = "active"
    return {
        "name": token.name,
        "idp": token.idp,
        "profile": token.profile,
        "access": access or "own IdP",
        "prefix": token.prefix + "…",
        "created": token.created_at.strftime(fmt),
        "last_used": last_used.strftime(fmt) if last_used else "never",
        "status": status,
    }

"""Bearer tokens: high entropy, stored only as a SHA-256 hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from scim_bridge.directory.models import Token
from scim_bridge.directory.prepared import Cursor, Prepared, one
from scim_bridge.errors import ConfigError

TOKEN_PREFIX = "scb_"
PROFILES = ("auto", "okta", "entra", "entra-additive", "strict")
#: last_used_at is refreshed at most this often, so auth does not write on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name, the IdP it stands for and its compatibility profile."""

    token_id: int
    name: str
    idp: str
    profile: str


def hash_token(token: str) -> str:
    """Return the stored form of a token (SHA-256; tokens carry 256 bits of entropy)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session, name: str, *, profile: str = "auto", idp: str | None = None, now: datetime
) -> tuple[Token, str]:
    """Create a token and return it with its plaintext, which is never stored or shown again."""
    name = name.strip()
    if not name or len(name) > 128:
        raise ConfigError("token name must be 1-128 characters; choose a name like okta-prod")
    if profile not in PROFILES:
        raise ConfigError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if session.scalar(select(Token.id).where(Token.name == name)) is not None:
        raise ConfigError(
            f"a token named {name!r} already exists; revoke it first or choose another name"
        )
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = Token(
        name=name,
        token_hash=hash_token(plaintext),
        prefix=plaintext[: len(TOKEN_PREFIX) + 4],
        profile=profile,
        idp=idp or name,
        created_at=now,
    )
    session.add(token)
    session.flush()
    return token, plaintext


#: The token columns auth needs, by hash: run on every request, so prepared once.
_BY_HASH = Prepared(
    select(
        Token.id,
        Token.name,
        Token.idp,
        Token.profile,
        Token.token_hash,
        Token.revoked_at,
        Token.last_used_at,
    ).where(Token.token_hash == bindparam("digest"))
)


def authenticate(reader: Cursor, presented: str, *, now: datetime) -> tuple[Principal | None, bool]:
    """Return the Principal for a bearer token (None if unknown or revoked) and whether its
    last-used time is stale enough to record."""
    digest = hash_token(presented)
    # Revocation is read on every request, so a revoked token stops working at once.
    found = one(_BY_HASH.rows(reader, digest=digest))
    if found is None:
        return None, False
    token_id, name, idp, profile, token_hash, revoked_at, last_used_at = found
    # The lookup is by hash; compare_digest keeps the final check constant-time regardless.
    if not hmac.compare_digest(token_hash, digest) or revoked_at is not None:
        return None, False
    last = last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    stale = last is None or now - last >= LAST_USED_RESOLUTION
    return Principal(token_id=token_id, name=name, idp=idp, profile=profile), stale


def touch(session: Session, token_id: int, *, now: datetime) -> None:
    """Record that a token was used now (for `token list` and spotting unused tokens)."""
    session.execute(update(Token).where(Token.id == token_id).values(last_used_at=now))


def list_tokens(session: Session) -> list[Token]:
    """Return every token, newest first (hashes only)."""
    return list(session.scalars(select(Token).order_by(Token.created_at.desc(), Token.id.desc())))


def revoke_token(session: Session, name: str, *, now: datetime) -> Token:
    """Revoke a token by name; requests with it fail from now on."""
    token = session.scalar(select(Token).where(Token.name == name))
    if token is None:
        raise ConfigError(f"no token named {name!r}; `scim-bridge token list` shows them")
    if token.revoked_at is None:
        token.revoked_at = now
    return token

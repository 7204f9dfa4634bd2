"""The console's own accounts (issue 13): scrypt-hashed passwords, roles, sign-in.

Console accounts are apart from the SCIM bearer tokens: a token stands for an IdP, an account
for a person in the IT team. ``admin`` may act (retry, drop, sync now); ``viewer`` only sees.

Passwords are hashed with scrypt (RFC 7914) through ``hashlib.scrypt``, each with a random
16-byte salt of its own. Parameters: N = 2**15, r = 8, p = 1, a 32-byte key: 32 MiB of memory
and about 50-100 ms per hash on a server core, the "interactive login" point OWASP's Password
Storage Cheat Sheet recommends (N=2^15 or more, r=8, p=1). They are kept in the stored text
(``scrypt$N$r$p$salt$hash``) so a later change of parameters still verifies older hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import AdminUser
from scim_bridge.errors import ConfigError, Forbidden

ROLES = ("admin", "viewer")
#: scrypt's cost (N), block size (r) and parallelism (p); see the module docstring.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_KEY_BYTES = 32
SALT_BYTES = 16
#: A password shorter than this is refused when an account is created.
MIN_PASSWORD_CHARS = 12
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class Admin:
    """A console account as the HTTP layer sees it (never the hash)."""

    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    @property
    def may_act(self) -> bool:
        """Whether this account may change anything (admins), or only look (viewers)."""
        return self.role == "admin"


def _scrypt(password: str, salt: bytes, *, n: int, r: int, p: int) -> bytes:
    # maxmem: OpenSSL's default ceiling (32 MiB) is just under what N=2^15, r=8 needs.
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32
    )


def hash_password(password: str, *, cost: int = SCRYPT_N) -> str:
    """Return the stored form of a password: ``scrypt$N$r$p$salt_hex$key_hex``.

    ``cost`` (N) is lowered only by tests, to sign in quickly; the stored text carries it."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, n=cost, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${cost}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${key.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether a password matches its stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        found = _scrypt(password, bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(found, bytes.fromhex(key))


#: Verified when the account does not exist, so that an unknown name costs as long as a known
#: one (the answer's timing does not tell a guesser which names exist).
_DUMMY_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${'00' * SALT_BYTES}${'00' * 32}"


def as_admin(row: AdminUser) -> Admin:
    """Return the public view of an account row."""
    return Admin(
        id=row.id,
        name=row.name,
        role=row.role,
        disabled=row.disabled,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def require_admin(admin: Admin) -> None:
    """Refuse a viewer's attempt to change anything (403)."""
    if not admin.may_act:
        raise Forbidden(f"{admin.name} is a viewer: viewers see, only admins act")


def check_new_account(name: str, role: str, password: str) -> None:
    """Refuse a bad name, role or password with a message naming the fix."""
    if not _NAME.match(name):
        raise ConfigError(
            f"admin name {name!r} is not valid; use 1-64 letters, digits, '.', '_', '@' or '-'"
        )
    if role not in ROLES:
        raise ConfigError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(
            f"the password must be at least {MIN_PASSWORD_CHARS} characters; "
            "pipe a longer one to --password-stdin"
        )


def create_admin(
    session: Session, name: str, *, role: str, password_hash: str, now: datetime
) -> Admin:
    """Add a console account (the password already hashed: hashing is slow, do it first)."""
    if session.scalar(select(AdminUser.id).where(AdminUser.name == name)) is not None:
        raise ConfigError(f"an admin named {name!r} exists; `scim-bridge admin list` shows them")
    row = AdminUser(name=name, role=role, password_hash=password_hash, created_at=now)
    session.add(row)
    session.flush()
    return as_admin(row)


def list_admins(session: Session) -> list[Admin]:
    """Return every console account, by name."""
    return [as_admin(r) for r in session.scalars(select(AdminUser).order_by(AdminUser.name))]


def any_admin(session: Session) -> bool:
    """Whether an enabled account with the admin role exists."""
    found = session.scalar(
        select(AdminUser.id).where(AdminUser.role == "admin", AdminUser.disabled.is_(False))
    )
    return found is not None


def disable_admin(session: Session, name: str) -> Admin:
    """Disable an account: it can no longer sign in, and its open sessions end."""
    row = session.scalar(select(AdminUser).where(AdminUser.name == name))
    if row is None:
        raise ConfigError(f"no admin named {name!r}; `scim-bridge admin list` shows them")
    row.disabled = True
    return as_admin(row)


def find_admin(session: Session, admin_id: int) -> Admin | None:
    """Return an enabled account by id, or None (unknown or disabled)."""
    row = session.get(AdminUser, admin_id)
    if row is None or row.disabled:
        return None
    return as_admin(row)


def check_password(session: Session, name: str, password: str) -> Admin | None:
    """Return the enabled account the name and password open, or None."""
    row = session.scalar(select(AdminUser).where(AdminUser.name == name))
    ok = verify_password(password, row.password_hash if row is not None else _DUMMY_HASH)
    if row is None or row.disabled or not ok:
        return None
    return as_admin(row)


def record_login(session: Session, admin_id: int, *, now: datetime) -> None:
    """Note when an account last signed in."""
    row = session.get(AdminUser, admin_id)
    if row is not None:
        row.last_login_at = now


#: The account `make run` creates when none can act yet.
FIRST_ADMIN = "admin"


def create_first_admin(session: Session, *, now: datetime) -> tuple[str, str] | None:
    """Create an admin with a generated password when no enabled admin exists; return the name
    and the password (to print once), or None when one exists already."""
    if any_admin(session):
        return None
    password = secrets.token_urlsafe(15)  # 120 bits
    name = FIRST_ADMIN
    taken = {a.name for a in list_admins(session)}
    n = 1
    while name in taken:  # "admin" exists but is disabled or a viewer
        n += 1
        name = f"{FIRST_ADMIN}{n}"
    create_admin(session, name, role="admin", password_hash=hash_password(password), now=now)
    return name, password

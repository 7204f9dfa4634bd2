"""Passwords IdPs send (RFC 7643 §4.1.1: writeOnly, never returned): kept, if the operator
chooses ``password_policy: hash``, as a one-way scrypt hash; hashed before a write transaction
opens, because scrypt is slow by design and must not hold SQLite's writer's turn or a row lock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from scim_bridge.directory.rows import Context
from scim_bridge.scim import resources

#: scrypt at OWASP's cost (Password Storage Cheat Sheet: N=2**17, r=8, p=1): 128 MiB and about a
#: second per hash, by design; which is why it runs before the write transaction (prepare).
_SCRYPT_LOG_N, _SCRYPT_R, _SCRYPT_P = 17, 8, 1
_SALT_BYTES, _HASH_BYTES = 16, 32
#: At most this many passwords of one request are hashed before its transaction: a body cannot
#: make the server run scrypt once per password-shaped value it carries.
_PREPARED_PASSWORDS = 2


def _scrypt(password: str, salt: bytes, *, log_n: int, r: int, p: int, dklen: int) -> bytes:
    n = 2**log_n
    # OpenSSL needs 128·N·r·p bytes; Python's default limit (32 MiB) is below OWASP's cost.
    maxmem = 2 * 128 * n * r * p
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str) -> str:
    """Return a salted scrypt hash of a password, in the self-describing PHC string format:
    ``$scrypt$ln=17,r=8,p=1$<salt>$<hash>`` (unpadded base64)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(
        password, salt, log_n=_SCRYPT_LOG_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_HASH_BYTES
    )
    params = f"ln={_SCRYPT_LOG_N},r={_SCRYPT_R},p={_SCRYPT_P}"
    return f"$scrypt${params}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a stored scrypt hash in constant time (the PHC form, or the
    ``scrypt$N$r$p$salt$hash`` form stored before issue 9)."""
    try:
        if stored.startswith("$scrypt$"):
            _, _, params, salt, digest = stored.split("$")
            given = dict(item.split("=", 1) for item in params.split(","))
            log_n, r, p = int(given["ln"]), int(given["r"]), int(given["p"])
            salt_raw, expected = _unb64(salt), _unb64(digest)
        else:
            _, n, r_text, p_text, salt, digest = stored.split("$")
            log_n, r, p = int(n).bit_length() - 1, int(r_text), int(p_text)
            salt_raw, expected = base64.b64decode(salt), base64.b64decode(digest)
        if not (1 <= log_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
            return False  # not a cost this server would have chosen
        actual = _scrypt(password, salt_raw, log_n=log_n, r=r, p=p, dklen=len(expected))
    except (ValueError, TypeError, KeyError):
        return False
    return hmac.compare_digest(actual, expected)


def prepare(body: Any, ctx: Context, *, hasher: Callable[[str], str] = hash_password) -> Context:
    """Hash the passwords a User request may set, before its transaction opens; the write then
    looks the hash up by plaintext instead of holding the writer's turn (or a row lock) for
    the second scrypt takes."""
    if ctx.password_policy != "hash":
        return ctx
    found = list(dict.fromkeys(_password_values(body)))[-_PREPARED_PASSWORDS:]
    if not found:
        return ctx
    return replace(ctx, password_hashes={p: hasher(p) for p in found})


def _password_values(body: Any) -> list[str]:
    """Every string a request gives as a password, roughly in request order: under a password
    key (any case, URN-qualified or not), or as the value of a PATCH operation whose path is
    password (RFC 7644 §3.5.2)."""
    found: list[str] = []
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
            continue
        if not isinstance(item, Mapping):
            continue
        path = resources.get_ci(item, "path")
        if isinstance(path, str) and _names_password(path):
            found.extend(_strings(resources.get_ci(item, "value")))
        children = []
        for key, child in item.items():
            if isinstance(key, str) and _names_password(key):
                found.extend(_strings(child))
            elif isinstance(child, Mapping | list):
                children.append(child)
        stack.extend(reversed(children))
    return found


def _names_password(name: str) -> bool:
    low = name.strip().lower()
    return low == "password" or low.endswith(":password")


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, str) and v]

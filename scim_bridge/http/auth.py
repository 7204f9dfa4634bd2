"""Who is calling: the SCIM bearer token (an IdP), or a console session (a person).

The console's session is a signed cookie (Flask's itsdangerous-signed session) holding the
account id, the time of the last request (for the idle timeout) and the CSRF token of the
session. The cookie is HttpOnly, SameSite=Strict, scoped to /admin, and Secure whenever the
request came over TLS (directly, or through a proxy that said so and that the WSGI server
trusts). The signing key comes from settings, or is made once and kept in the database so that
every process and every restart shares it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, g, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim_bridge.directory import tokens
from scim_bridge.directory.admins import Admin, find_admin
from scim_bridge.directory.models import BridgeState
from scim_bridge.directory.rows import READ_ONLY
from scim_bridge.errors import Forbidden, Unauthorized
from scim_bridge.http.runtime import Runtime
from scim_bridge.http.scim_request import PREFIX, ScimRequests
from scim_bridge.scim.profiles import choose_profile

#: The bridge_state key of the generated session-signing key.
SESSION_KEY_STATE = "console.session_key"
COOKIE_NAME = "scim_bridge_console"
CSRF_FIELD = "csrf_token"


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, keyed lazily and Secure on TLS requests.

    A request without the cookie (every SCIM call) never reads the key: the database is asked
    for it only when a console session exists or is being made.
    """

    def __init__(self, key: Callable[[], str]) -> None:
        self._key = key
        self._cached: str | None = None

    def get_signing_serializer(self, app: Flask) -> Any:
        """Return the serializer, signing with the console's key."""
        if self._cached is None:
            self._cached = self._key()
        app.secret_key = self._cached
        return super().get_signing_serializer(app)

    def open_session(self, app: Flask, request: Any) -> Any:
        """Open the session; a request without the cookie gets an empty one, no key read."""
        if request.cookies.get(self.get_cookie_name(app)) is None:
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        """Mark the cookie Secure when this request came over TLS."""
        return bool(request.is_secure)


def install_console_session(app: Flask, key: Callable[[], str]) -> None:
    """Give the app the console's session cookie settings."""
    app.session_interface = ConsoleSessionInterface(key)
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/admin",
    )


def stored_session_key(db_session: Session, *, now: datetime) -> str:
    """Return the generated signing key kept in the database, making it on first use."""
    row = db_session.get(BridgeState, SESSION_KEY_STATE)
    if row is None:
        row = BridgeState(
            key=SESSION_KEY_STATE, value={"key": secrets.token_hex(32)}, updated_at=now
        )
        db_session.add(row)
        db_session.flush()
    return str(row.value["key"])


def session_key_source(runtime: Runtime) -> Callable[[], str]:
    """Return how the console finds its signing key: the setting, else the stored one."""

    def key() -> str:
        if runtime.settings.admin_session_secret:
            return runtime.settings.admin_session_secret
        try:
            with runtime.db.write() as db_session:
                return stored_session_key(db_session, now=runtime.clock())
        except IntegrityError:
            # Another process made it at the same moment: theirs is the key.
            with runtime.db.read() as db_session:
                return stored_session_key(db_session, now=runtime.clock())

    return key


# --- SCIM: the bearer token of an IdP -----------------------------------------------------------


def authenticate_bearer(api: ScimRequests, *, search_endpoints: frozenset[str]) -> None:
    """Find the token of this SCIM request (RFC 6750), or raise 401; a read-only token's
    writes are refused here with 403, before the body is read."""
    runtime = api.runtime
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("send Authorization: Bearer <token>")
    now = runtime.clock()
    with runtime.db.reader() as reader:
        principal, stale = tokens.authenticate(reader, presented.strip(), now=now)
    if principal is None:
        raise Unauthorized("the bearer token is not valid or has been revoked")
    if stale:
        with runtime.db.write() as db_session:
            tokens.touch(db_session, principal.token_id, now=now)
    g.principal = principal
    g.profile = choose_profile(
        principal.profile, runtime.settings.default_profile, request.headers.get("User-Agent")
    )
    if (
        principal.read_only
        and request.method not in ("GET", "HEAD")
        and request.endpoint not in search_endpoints
    ):
        # RFC 7644 §3.12: 403, "not permitted based on the supplied authorization";
        # refused before the body is read (the services refuse it too: Context), and
        # audited: a read-only token trying to write is worth knowing about.
        view_args = request.view_args or {}
        with api.refusals_audited(written_resource(), view_args.get("resource_id")):
            raise Forbidden(READ_ONLY)


def written_resource() -> str:
    """The endpoint a write names, for its audit record: Users, Groups, else Bulk."""
    segment = request.path.removeprefix(PREFIX + "/").split("/", 1)[0]
    return segment if segment in ("Users", "Groups") else "Bulk"


# --- the console session ------------------------------------------------------------------------


def csrf_token() -> str:
    """Return this session's CSRF token, making one if the session has none yet."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse a form whose CSRF token is missing or is not this session's (constant time)."""
    sent = request.form.get(CSRF_FIELD, "")
    expected = session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("the form's security token is missing or stale; reload the page")


def start_session(admin: Admin, *, now: datetime) -> None:
    """Begin a fresh session for an account (a new id and CSRF token: no fixation)."""
    session.clear()
    session["uid"] = admin.id
    session["seen"] = now.timestamp()
    session["csrf"] = secrets.token_urlsafe(32)


def end_session() -> None:
    """Forget the session (sign out, idle timeout, disabled account)."""
    session.clear()


def current_admin(
    db_session: Session, *, now: datetime, idle: timedelta, activity: bool = True
) -> Admin | None:
    """Return the signed-in account of this request, or None; an idle session ends here.

    ``activity``: whether this request counts as the person being there (a page they opened),
    or not (the overview's background poll, which would otherwise keep an abandoned tab
    signed in for ever)."""
    uid = session.get("uid")
    seen = session.get("seen")
    if not isinstance(uid, int) or not isinstance(seen, int | float):
        return None
    if now.timestamp() - seen > idle.total_seconds():
        end_session()
        return None
    admin = find_admin(db_session, uid)
    if admin is None:  # disabled since: its sessions end with it
        end_session()
        return None
    if activity:
        session["seen"] = now.timestamp()
    g.admin = admin
    return admin

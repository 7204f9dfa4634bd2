"""The one place that writes SCIM Error JSON (RFC 7644 §3.12)."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from typing import Any

import psycopg
from flask import Flask, Response, g, json, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError as DatabaseUnavailable
from werkzeug.exceptions import HTTPException

from scim_bridge.errors import ScimError, TooManyRequests
from scim_bridge.scim.schema import ERROR

SCIM_MEDIA_TYPE = "application/scim+json"
#: Seconds an IdP is asked to wait when the database cannot be reached (a restart, a failover).
DATABASE_RETRY_AFTER = 5
log = logging.getLogger("scim_bridge.http")


def error_body(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    """Return an Error message; ``status`` is a string, as RFC 7644 §3.12 requires."""
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body


def error_response(status: int, detail: str, scim_type: str | None = None) -> Response:
    """Render an Error message as an application/scim+json response."""
    response = Response(
        json.dumps(error_body(status, detail, scim_type)), status=status, mimetype=SCIM_MEDIA_TYPE
    )
    if status == 401:
        # RFC 6750 §3: tell the client which scheme to use.
        response.headers["WWW-Authenticate"] = 'Bearer realm="scim-bridge"'
    return response


def request_id() -> str:
    """Return this request's id (taken from X-Request-ID when the proxy set one)."""
    rid = getattr(g, "request_id", None)
    if rid is None:
        rid = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        g.request_id = rid
    return str(rid)


def register_error_handlers(app: Flask) -> None:
    """Render ScimError, HTTP errors and unexpected exceptions as SCIM errors."""

    @app.errorhandler(ScimError)
    def _scim_error(exc: ScimError) -> Response:
        response = error_response(exc.status, exc.detail, exc.scim_type)
        if isinstance(exc, TooManyRequests):
            # RFC 6585 §4: a 429 MAY say how long to wait; Okta and Entra both honour it.
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = {
            404: "no such endpoint; the SCIM base URL is /scim/v2",
            405: f"{request.method} is not supported on {request.path}",
            413: "the request body is larger than this server accepts",
        }.get(status, exc.description or exc.name)
        return error_response(status, detail)

    def _database_unavailable(exc: Exception) -> Response:
        rid = request_id()
        # One line, not the SQL and its parameters (they may hold personal data).
        first = (str(getattr(exc, "orig", exc)).splitlines() or [""])[0][:200]
        log.warning("database unavailable (request id %s): %s", rid, first)
        # A restart or failover is transient: 503 with Retry-After (RFC 9110 §15.6.4) makes
        # Okta and Entra retry the same change later instead of counting a failure of ours.
        response = error_response(
            503, f"the database is unavailable; retry in a few seconds (request id {rid})"
        )
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if _unavailable(exc):
            return _database_unavailable(exc)
        rid = request_id()
        log.exception("unhandled error (request id %s)", rid)
        # A 500 names the request id so the operator can find the traceback; never shows it.
        return error_response(500, f"internal error; request id {rid}")


def _unavailable(exc: Exception) -> bool:
    """Say whether an error means "the database cannot be reached now", not a bug of ours.

    SQLAlchemy wraps the driver's errors; the prepared-statement fast path
    (directory/prepared.py) meets the driver's own (PEP 249 OperationalError).
    """
    if isinstance(exc, DBAPIError):
        return isinstance(exc, DatabaseUnavailable) or exc.connection_invalidated
    return isinstance(exc, psycopg.OperationalError | sqlite3.OperationalError)

"""The /scim/v2 blueprint (RFC 7644 §3): authentication, query parsing, and the routes of
each resource, which live in a module of their own:

- ``auth.py``: the bearer token (and the console's session);
- ``scim_users.py``, ``scim_groups.py``: /Users and /Groups;
- ``scim_bulk.py``: /Bulk, the root /.search and /Me;
- ``scim_meta.py``: discovery (/ServiceProviderConfig, /ResourceTypes, /Schemas);
- ``scim_request.py``: what every view needs (body, query, context, transactions, rendering
  through ``directory/documents.py``); ``scim_writes.py``: the shape of every write.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from scim_bridge.http.auth import authenticate_bearer
from scim_bridge.http.errors import error_response
from scim_bridge.http.runtime import Runtime
from scim_bridge.http.scim_bulk import register_bulk
from scim_bridge.http.scim_groups import register_groups
from scim_bridge.http.scim_meta import register_meta
from scim_bridge.http.scim_request import PREFIX, ScimRequests
from scim_bridge.http.scim_users import register_users

#: Endpoints a read-only token may POST to: searches (RFC 7644 §3.4.3) change nothing.
SEARCH_ENDPOINTS = frozenset({"scim.search_users", "scim.search_groups", "scim.root_search"})
#: Endpoint names in their canonical case; clients send `/users` too (scim-idp-notes §2.24).
CANONICAL_SEGMENTS = {
    "users": "Users",
    "groups": "Groups",
    "bulk": "Bulk",
    "me": "Me",
    "serviceproviderconfig": "ServiceProviderConfig",
    "serviceconfiguration": "ServiceProviderConfig",
    "resourcetypes": "ResourceTypes",
    "schemas": "Schemas",
    ".search": ".search",
}

__all__ = ["PREFIX", "canonical_path", "make_scim_blueprint"]


def canonical_path(path: str) -> str:
    """Rewrite endpoint segments of a /scim/v2 path to their canonical case."""
    if not path.lower().startswith(PREFIX.lower() + "/"):
        return path
    parts = path[len(PREFIX) + 1 :].split("/")
    parts[0] = CANONICAL_SEGMENTS.get(parts[0].lower(), parts[0])
    return PREFIX + "/" + "/".join(parts)


def make_scim_blueprint(runtime: Runtime) -> Blueprint:
    """Build the /scim/v2 blueprint bound to one runtime."""
    bp = Blueprint("scim", __name__, url_prefix=PREFIX)
    api = ScimRequests(runtime)

    @bp.errorhandler(RecursionError)
    def too_deep(_exc: RecursionError) -> Response:
        # Input nested deeper than a recursive parser can follow (a filter or PATCH path of
        # thousands of parentheses): the request is at fault, and its transaction rolled back.
        return error_response(400, "the request nests too deeply to be processed", "invalidSyntax")

    @bp.before_request
    def authenticate() -> None:
        authenticate_bearer(api, search_endpoints=SEARCH_ENDPOINTS)
        # Issue 14: the token's concurrency slot and rate budget, before anything is read.
        api.limits.enter(g.principal)

    @bp.teardown_request
    def release(_exc: BaseException | None) -> None:
        api.limits.leave()  # runs on every exit path, an exception's too

    @bp.before_request
    def parse_before_write() -> None:
        # Every query parameter is parsed before any transaction opens: a bad one is a 400
        # that changed nothing (`POST /Users?count=x` once created the user, then said 400).
        if request.endpoint not in unparsed:
            g.query = api.query_params()

    register_users(bp, api)
    register_groups(bp, api)
    register_bulk(bp, api)
    # Discovery (RFC 7644 §4) and /Me take no query parameters and leave them unread.
    unparsed = register_meta(bp, api) | {f"{bp.name}.me"}
    return bp

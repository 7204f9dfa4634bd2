"""/scim/v2/Users (RFC 7644 §3): each view parses, calls one service, serialises."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from scim_bridge.directory import users
from scim_bridge.http import scim_writes
from scim_bridge.http.scim_request import ScimRequests, known_id, scim_json
from scim_bridge.scim.etags import etag, if_none_match_hit
from scim_bridge.scim.listing import ListQuery, equality_lookup, list_response
from scim_bridge.scim.profiles import Profile

USERS = "Users"


def register_users(bp: Blueprint, api: ScimRequests) -> None:
    """Add the Users routes to the SCIM blueprint."""
    user_rt = api.documents.reg.user

    @bp.post("/Users")
    def create_user() -> Response:
        return scim_writes.create(api, USERS, users.create_user)

    @bp.get("/Users")
    def list_users() -> Response:
        return search(g.query)

    @bp.post("/Users/.search")
    def search_users() -> Response:
        return search(api.search_request())

    def search(q: ListQuery) -> Response:
        name = equality_lookup(q, "userName", user_rt.core.id)
        if name is not None:
            return existence_check(name, q)
        return scim_writes.search(api, USERS, users.list_users, q)

    def existence_check(name: str, q: ListQuery) -> Response:
        # `userName eq "…"`, sent by Okta and Entra before every create: userName is unique
        # case-insensitively, so this is one index lookup with at most one match (and none
        # when the match belongs to another IdP: the same statement requires the caller's).
        with api.runtime.db.reader() as reader:
            found = users.find_user_by_name(reader, name, scope=api.scope())
            matches = [] if found is None else [found]
            page = matches[q.start_index - 1 :][: q.count]
            docs = api.user_docs(reader, page, (q.attributes, q.excluded))
        return scim_json(list_response(docs, total=len(matches), start_index=q.start_index))

    @bp.get("/Users/<resource_id>")
    def get_user(resource_id: str) -> Response:
        known_id(resource_id)
        with api.runtime.db.reader() as reader:
            user = users.read_user(reader, resource_id, scope=api.scope())
            if not if_none_match_hit(request.headers.get("If-None-Match"), user.version):
                doc = api.user_docs(reader, [user], api.selection())[0]
                return scim_json(doc, version=user.version)
        response = Response(status=304)
        response.headers["ETag"] = etag(user.version)
        return response

    @bp.put("/Users/<resource_id>")
    def replace_user(resource_id: str) -> Response:
        return scim_writes.replace(api, USERS, users.replace_user, resource_id)

    @bp.patch("/Users/<resource_id>")
    def patch_user(resource_id: str) -> Response:
        profile: Profile = g.profile
        return scim_writes.patch(
            api, USERS, users.patch_user, resource_id, status=profile.user_patch_status
        )

    @bp.delete("/Users/<resource_id>")
    def delete_user(resource_id: str) -> Response:
        return scim_writes.delete(api, USERS, users.delete_user, resource_id)

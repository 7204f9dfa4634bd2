"""/scim/v2/Groups (RFC 7644 §3): each view parses, calls one service, serialises."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from scim_bridge.directory import groups
from scim_bridge.http import scim_writes
from scim_bridge.http.scim_request import ScimRequests, known_id, scim_json
from scim_bridge.scim.etags import etag, if_none_match_hit
from scim_bridge.scim.profiles import Profile

GROUPS = "Groups"


def register_groups(bp: Blueprint, api: ScimRequests) -> None:
    """Add the Groups routes to the SCIM blueprint."""

    @bp.post("/Groups")
    def create_group() -> Response:
        return scim_writes.create(api, GROUPS, groups.create_group)

    @bp.get("/Groups")
    def list_groups() -> Response:
        return scim_writes.search(api, GROUPS, groups.list_groups, g.query)

    @bp.post("/Groups/.search")
    def search_groups() -> Response:
        return scim_writes.search(api, GROUPS, groups.list_groups, api.search_request())

    @bp.get("/Groups/<resource_id>")
    def get_group(resource_id: str) -> Response:
        known_id(resource_id)
        with api.runtime.db.read() as session:
            group = groups.get_group(session, resource_id, scope=api.scope())
            version = group.version
            if not if_none_match_hit(request.headers.get("If-None-Match"), version):
                doc = api.group_docs(session, [group], api.selection())[0]
                return scim_json(doc, version=version)
        response = Response(status=304)
        response.headers["ETag"] = etag(version)
        return response

    @bp.put("/Groups/<resource_id>")
    def replace_group(resource_id: str) -> Response:
        return scim_writes.replace(api, GROUPS, groups.replace_group, resource_id)

    @bp.patch("/Groups/<resource_id>")
    def patch_group(resource_id: str) -> Response:
        profile: Profile = g.profile
        return scim_writes.patch(
            api, GROUPS, groups.patch_group, resource_id, status=profile.group_patch_status
        )

    @bp.delete("/Groups/<resource_id>")
    def delete_group(resource_id: str) -> Response:
        return scim_writes.delete(api, GROUPS, groups.delete_group, resource_id)

"""Discovery (RFC 7644 §4): /ServiceProviderConfig, /ResourceTypes, /Schemas."""

from __future__ import annotations

from flask import Blueprint, Response

from scim_bridge.directory import discovery
from scim_bridge.errors import NotFound
from scim_bridge.http.scim_request import ScimRequests, scim_json
from scim_bridge.scim.listing import list_response


def register_meta(bp: Blueprint, api: ScimRequests) -> frozenset[str]:
    """Add the discovery routes; return their endpoint names (they take no query parameters)."""
    settings = api.settings

    @bp.get("/ServiceProviderConfig")
    def service_provider_config() -> Response:
        return scim_json(discovery.service_provider_config(settings, api.base_url()))

    @bp.get("/ResourceTypes")
    def resource_types() -> Response:
        docs = discovery.resource_types(api.base_url())
        return scim_json(list_response(docs, total=len(docs), start_index=1))

    @bp.get("/ResourceTypes/<name>")
    def resource_type(name: str) -> Response:
        for doc in discovery.resource_types(api.base_url()):
            if doc["id"].lower() == name.lower():
                return scim_json(doc)
        raise NotFound(f"no resource type {name!r}; try /ResourceTypes")

    @bp.get("/Schemas")
    def schemas() -> Response:
        docs = discovery.schemas(api.base_url())
        return scim_json(list_response(docs, total=len(docs), start_index=1))

    @bp.get("/Schemas/<urn>")
    def schema(urn: str) -> Response:
        for doc in discovery.schemas(api.base_url()):
            if doc["id"].lower() == urn.lower():
                return scim_json(doc)
        raise NotFound(f"no schema {urn!r}; try /Schemas")

    views = (service_provider_config, resource_types, resource_type, schemas, schema)
    return frozenset(f"{bp.name}.{view.__name__}" for view in views)

"""Service provider discovery documents (RFC 7644 §4), generated from schemas/ and settings."""

from __future__ import annotations

import copy
from typing import Any

from scim_bridge.scim.schema import SERVICE_PROVIDER_CONFIG, registry
from scim_bridge.settings import Settings

DOCS_URL = "https://github.com/scim-bridge/scim-bridge#readme"


def service_provider_config(settings: Settings, base_url: str) -> dict[str, Any]:
    """Describe what this server supports; the limits are the ones it enforces."""
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": DOCS_URL,
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": settings.bulk_max_operations,
            "maxPayloadSize": settings.bulk_max_payload_bytes,
        },
        "filter": {"supported": True, "maxResults": settings.max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A long-lived bearer token from `scim-bridge token create NAME`.",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "documentationUri": DOCS_URL,
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def resource_types(base_url: str) -> list[dict[str, Any]]:
    """Return the ResourceType documents with absolute locations."""
    out = []
    for rt in registry().resource_types.values():
        doc = copy.deepcopy(dict(rt.document))
        doc["meta"] = {
            "resourceType": "ResourceType",
            "location": f"{base_url}/ResourceTypes/{rt.name}",
        }
        out.append(doc)
    return out


def schemas(base_url: str) -> list[dict[str, Any]]:
    """Return the Schema documents with absolute locations."""
    out = []
    for schema in registry().schemas.values():
        doc = copy.deepcopy(dict(schema.document))
        doc["meta"] = {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema.id}"}
        out.append(doc)
    return out

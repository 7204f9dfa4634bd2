"""The SCIM schema registry: attribute definitions read from the documents in ``schemas/``.

Every other module asks this one what an attribute is (type, multi-valued, caseExact,
mutability, returned) and what its canonical spelling is: RFC 7643 §2.1 makes attribute
names case-insensitive, so ``UserName`` and ``userName`` resolve to the same definition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DINGTALK_USER = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"
DINGTALK_GROUP = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:Group"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SERVICE_PROVIDER_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

#: Attributes every resource carries (RFC 7643 §3.1), not part of any schema document.
COMMON_ATTRIBUTES = ("id", "externalId", "meta", "schemas")


@dataclass(frozen=True)
class Attribute:
    """One attribute definition (RFC 7643 §7)."""

    name: str
    type: str
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    canonical_values: tuple[str, ...] = ()
    sub_attributes: Mapping[str, Attribute] = field(default_factory=dict, repr=False)  # lower

    @property
    def is_complex(self) -> bool:
        """Return whether the attribute has sub-attributes."""
        return self.type == "complex"

    def sub(self, name: str) -> Attribute | None:
        """Return the sub-attribute with this name (any case), or None."""
        return self.sub_attributes.get(name.lower())


@dataclass(frozen=True)
class Schema:
    """One schema document: its URN and attributes (lower name -> Attribute)."""

    id: str
    name: str
    description: str
    attributes: Mapping[str, Attribute] = field(repr=False)
    document: Mapping[str, Any] = field(repr=False)

    def attribute(self, name: str) -> Attribute | None:
        """Return the attribute with this name (any case), or None."""
        return self.attributes.get(name.lower())


@dataclass(frozen=True)
class ResourceType:
    """A resource type: endpoint, core schema and extension schemas."""

    name: str
    endpoint: str
    core: Schema
    extensions: tuple[Schema, ...]
    document: Mapping[str, Any] = field(repr=False)
    #: Attributes found by ``resources.resolve_attribute``, by lower-cased name and URN: every
    #: key of every document rendered or parsed is resolved, so each is worked out once. Only
    #: names that resolve are kept (bounded by the schemas, whatever clients send).
    resolved: dict[tuple[str, str | None], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def schema_urns(self) -> tuple[str, ...]:
        """Return the core URN followed by the extension URNs."""
        return (self.core.id, *(e.id for e in self.extensions))

    def extension(self, urn: str) -> Schema | None:
        """Return the extension schema with this URN (any case), or None."""
        low = urn.lower()
        for ext in self.extensions:
            if ext.id.lower() == low:
                return ext
        return None

    def schema_for(self, urn: str | None) -> Schema | None:
        """Return the core schema for None or the core URN, else the named extension."""
        if urn is None or urn.lower() == self.core.id.lower():
            return self.core
        return self.extension(urn)

    def resolve(self, attr: str, urn: str | None = None) -> tuple[Schema, Attribute] | None:
        """Find an attribute by name in the core schema, or in the extension a URN names."""
        schema = self.schema_for(urn)
        if schema is None:
            return None
        found = schema.attribute(attr)
        return (schema, found) if found is not None else None

    def case_exact(self, dotted_lower: str) -> bool:
        """Return whether ``attr`` or ``attr.sub`` (lower case, core schema) is caseExact."""
        if dotted_lower in ("id", "externalid", "meta.version"):
            return True
        head, _, sub = dotted_lower.partition(".")
        found = self.resolve(head)
        if found is None:
            return False
        attr = found[1]
        if sub:
            child = attr.sub(sub)
            return bool(child and child.case_exact)
        if attr.is_complex:
            value = attr.sub("value")
            return bool(value and value.case_exact)
        return attr.case_exact


def _attribute(doc: Mapping[str, Any]) -> Attribute:
    subs = {s["name"].lower(): _attribute(s) for s in doc.get("subAttributes", [])}
    return Attribute(
        name=doc["name"],
        type=doc.get("type", "string"),
        multi_valued=bool(doc.get("multiValued", False)),
        required=bool(doc.get("required", False)),
        case_exact=bool(doc.get("caseExact", False)),
        mutability=doc.get("mutability", "readWrite"),
        returned=doc.get("returned", "default"),
        uniqueness=doc.get("uniqueness", "none"),
        canonical_values=tuple(doc.get("canonicalValues", ())),
        sub_attributes=subs,
    )


def _load_json(name: str) -> Any:
    return json.loads(resources.files("scim_bridge.schemas").joinpath(name).read_text("utf-8"))


def _schema(name: str) -> Schema:
    doc = _load_json(name)
    attrs = {a["name"].lower(): _attribute(a) for a in doc["attributes"]}
    return Schema(doc["id"], doc["name"], doc.get("description", ""), attrs, doc)


@dataclass(frozen=True)
class Registry:
    """Every schema and resource type this server serves."""

    schemas: Mapping[str, Schema]  # URN -> Schema
    resource_types: Mapping[str, ResourceType]  # "User"/"Group" -> ResourceType

    @property
    def user(self) -> ResourceType:
        """Return the User resource type."""
        return self.resource_types["User"]

    @property
    def group(self) -> ResourceType:
        """Return the Group resource type."""
        return self.resource_types["Group"]

    def schema(self, urn: str) -> Schema | None:
        """Return a schema by URN (any case), or None."""
        low = urn.lower()
        for key, schema in self.schemas.items():
            if key.lower() == low:
                return schema
        return None


@cache
def registry() -> Registry:
    """Load the schema documents once and return the registry."""
    files = ("User.json", "Group.json", "EnterpriseUser.json", "DingTalkUser.json")
    loaded = [_schema(f) for f in (*files, "DingTalkGroup.json")]
    schemas = {s.id: s for s in loaded}
    types: dict[str, ResourceType] = {}
    for doc in _load_json("ResourceTypes.json"):
        exts = tuple(schemas[e["schema"]] for e in doc.get("schemaExtensions", []))
        types[doc["name"]] = ResourceType(
            doc["name"], doc["endpoint"], schemas[doc["schema"]], exts, doc
        )
    return Registry(schemas, types)

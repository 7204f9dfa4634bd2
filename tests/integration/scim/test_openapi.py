"""The OpenAPI document the project publishes for its SCIM API, and the route that serves it."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

METHODS = {"get", "post", "put", "patch", "delete"}


def document() -> dict[str, Any]:
    raw = resources.files("scim_bridge").joinpath("schemas/openapi.json").read_text()
    doc: dict[str, Any] = json.loads(raw)
    return doc


def test_served_without_a_token(app: Any) -> None:
    response = app.test_client().get("/scim/v2/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.json == document()
    assert response.json["openapi"] == "3.1.0"


def test_the_rest_of_the_api_still_needs_a_token(app: Any) -> None:
    assert app.test_client().get("/scim/v2/Users").status_code == 401


def _routed(app: Any) -> set[tuple[str, str]]:
    """(OpenAPI path, method) for every route of the SCIM API."""
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/scim/v2/"):
            continue
        path = rule.rule[len("/scim/v2") :]
        m = re.search(r"<any\(([^)]*)\):\w+>", path)
        options = [o.strip() for o in m.group(1).split(",")] if m else [None]
        for option in options:
            concrete = path if option is None else path.replace(m.group(0), option)
            concrete = re.sub(r"<resource_id>", "{id}", concrete)
            concrete = re.sub(r"<(\w+)>", r"{\1}", concrete)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                out.add((concrete, method.lower()))
    return out


def test_every_route_is_documented_and_every_documented_operation_routed(app: Any) -> None:
    doc = document()
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }
    assert _routed(app) == documented


def test_schemas_are_valid_and_every_ref_resolves() -> None:
    doc = document()
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        assert ref.startswith("#/"), ref
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part]


def test_error_schema_accepts_what_the_server_sends(scim: Any) -> None:
    doc = document()
    error = scim.get("/Users/nope")
    assert error.status_code == 404
    Draft202012Validator(doc["components"]["schemas"]["Error"]).validate(error.json)

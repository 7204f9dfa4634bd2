"""GET /scim/v2/openapi.json: the OpenAPI 3.1 document of the SCIM API, served without a token.

A blueprint of its own, because the SCIM blueprint authenticates every request it handles.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from flask import Blueprint, Response

from scim_bridge.http.scim_api import PREFIX


@cache
def openapi_document() -> bytes:
    """Return schemas/openapi.json as shipped in the package."""
    return resources.files("scim_bridge").joinpath("schemas/openapi.json").read_bytes()


def make_openapi_blueprint() -> Blueprint:
    """Build the blueprint that serves the OpenAPI document."""
    bp = Blueprint("openapi", __name__, url_prefix=PREFIX)

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return Response(openapi_document(), mimetype="application/json")

    return bp

"""/scim/v2/Bulk, the root /.search and /Me (RFC 7644 §3.7, §3.4.3, §3.11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response
from sqlalchemy.orm import Session

from scim_bridge.directory import bulk
from scim_bridge.errors import NotImplementedByServer
from scim_bridge.http.scim_request import ScimRequests, read_body, scim_json
from scim_bridge.scim.listing import list_response


def register_bulk(bp: Blueprint, api: ScimRequests) -> None:
    """Add /Bulk, /.search and /Me to the SCIM blueprint."""
    settings = api.settings

    @bp.post("/.search")
    def root_search() -> Response:
        q = api.search_request()
        with api.runtime.db.read() as session:
            total, pages = bulk.search_all(session, q, scope=api.scope(), hints=api.runtime.hints)
            docs = [
                doc for endpoint, rows in pages for doc in api.docs_for(session, endpoint, rows, q)
            ]
        return scim_json(list_response(docs, total=total, start_index=q.start_index))

    @bp.post("/Bulk")
    def bulk_request() -> Response:
        def run(op: Callable[[Session], Any]) -> Any:
            with api.write() as session:
                return op(session)

        # A refused request (413, bad syntax) is audited here; each operation in bulk.py.
        with api.refusals_audited("Bulk"):
            body = read_body(settings.bulk_max_payload_bytes)
        # Issue 14: a Bulk costs its operations. A 429 is not audited, as at authentication:
        # a client over its limit must not make the server write more.
        api.limits.charge_bulk(body)
        with api.refusals_audited("Bulk"):
            result = bulk.process(
                body,
                api.context(),
                run=run,
                max_operations=settings.bulk_max_operations,
                base_url=api.base_url(),
            )
        return scim_json(result)

    @bp.route("/Me", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def me() -> Response:
        raise NotImplementedByServer(
            "/Me is not supported: a bearer token identifies an IdP, not a user (RFC 7644 §3.11)"
        )

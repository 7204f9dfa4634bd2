"""The console's audit search and CSV export (issue 13).

Both read the trail only (monitor/audit_search.py). The export is streamed: the response is a
generator over a server-side cursor, so exporting a year of records holds one chunk in memory,
and the browser starts receiving at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, render_template, request

from scim_bridge.errors import BadRequest
from scim_bridge.http.runtime import Runtime
from scim_bridge.monitor.audit_search import check_filter, export_csv, parse_filter, search


def register_audit(bp: Blueprint, runtime: Runtime) -> None:
    """Add /admin/audit (search, newest first, paged) and /admin/audit.csv (the export)."""

    @bp.get("/audit")
    def audit() -> str:
        wanted = parse_filter(request.args)
        before = _before(request.args.get("before", ""))
        with runtime.db.read() as session:
            page = search(session, wanted, before=before)
        return render_template("admin/audit.html", page=page, wanted=wanted)

    @bp.get("/audit.csv")
    def audit_csv() -> Response:
        wanted = parse_filter(request.args)
        with runtime.db.read() as session:
            check_filter(session, wanted)  # a bad filter is a 400 page, not a cut-off file

        def chunks() -> Iterator[str]:
            with runtime.db.read() as session:
                yield from export_csv(session, wanted)

        stamp = runtime.clock().strftime("%Y%m%dT%H%M%SZ")
        return Response(
            chunks(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
        )


def _before(text: str) -> int | None:
    """Parse the keyset of the next page (the last id shown); empty means the first page."""
    if not text:
        return None
    if not text.isdigit():
        raise BadRequest(f"before {text!r} is not a record id; use the page's Next link")
    return int(text)

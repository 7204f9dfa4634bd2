"""The console's pages that only read: the overview (and its JSON for polling), the sandbox.

Every figure comes from our own database (monitor/overview.py) or, for the sandbox, from the
built-in emulator's paged read API (dingtalk/emulator/read_api.py; the tree in
http/sandbox_view.py); never from DingTalk itself (design.md).
"""

from __future__ import annotations

from flask import Blueprint, Response, json, render_template, request

from scim_bridge.dingtalk.emulator.sandbox_model import NotInSandbox
from scim_bridge.directory.console_actions import recent_actions
from scim_bridge.errors import NotFound
from scim_bridge.http.runtime import Runtime
from scim_bridge.http.sandbox_view import PAGE_SIZE, arrange, sandbox_query, walk
from scim_bridge.monitor.lag_history import lag_24h
from scim_bridge.monitor.overview import read_overview, sparkline_points
from scim_bridge.monitor.overview_parts import overview_parts


def register_pages(bp: Blueprint, runtime: Runtime) -> None:
    """Add the read-only pages to the console's blueprint."""
    parts = overview_parts(runtime.settings)

    @bp.get("/")
    def overview() -> str:
        with runtime.db.read() as session:
            view = read_overview(session, now=runtime.clock(), history=lag_24h, parts=parts)
            actions = recent_actions(session, limit=5)
        return render_template(
            "admin/overview.html",
            view=view,
            actions=actions,
            spark=sparkline_points(view.lag_24h),
        )

    @bp.get("/overview.json")
    def overview_json() -> Response:
        with runtime.db.read() as session:
            view = read_overview(session, now=runtime.clock(), history=lag_24h, parts=parts)
        return Response(json.dumps(view.as_json()), mimetype="application/json")

    @bp.get("/sandbox")
    def sandbox() -> str:
        reader = runtime.sandbox
        if reader is None:
            raise NotFound("the sandbox view shows the built-in emulator, which is not in use")
        query = sandbox_query(request.args)
        try:
            people = reader.people(query.dept_id, page=query.page, size=PAGE_SIZE)
            tree = reader.tree()
        except NotInSandbox as exc:
            raise NotFound(f"{exc}; the tree on /admin/sandbox lists every department") from None
        except OSError as exc:
            # The emulator may have stopped; the page says so instead of failing.
            problem = f"the emulator did not answer ({type(exc).__name__})"
            return render_template("admin/sandbox.html", problem=problem)
        return render_template(
            "admin/sandbox.html",
            problem=None,
            tree=tree,
            drawn=arrange(tree, selected=query.dept_id),
            walk=walk,
            people=people,
        )

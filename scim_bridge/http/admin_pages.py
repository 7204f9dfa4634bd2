"""The console's pages that only read: the overview (and its JSON for polling), the sandbox.

Every figure comes from our own database (monitor/overview.py) or, for the sandbox, from the
built-in emulator's read API; never from DingTalk itself (design.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, json, render_template

from scim_bridge.directory.console_actions import recent_actions
from scim_bridge.errors import NotFound
from scim_bridge.http.runtime import Runtime
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
        if runtime.sandbox is None:
            raise NotFound("the sandbox view shows the built-in emulator, which is not in use")
        try:
            state = runtime.sandbox()
            problem = None
        except OSError as exc:
            # The emulator may have stopped; the page says so instead of failing.
            state, problem = {}, f"the emulator did not answer ({type(exc).__name__})"
        return render_template("admin/sandbox.html", tree=department_tree(state), problem=problem)


@dataclass
class Department:
    """One department of the emulator's directory, with its people and sub-departments."""

    dept_id: int
    name: str
    people: list[dict[str, Any]] = field(default_factory=list)
    children: list[Department] = field(default_factory=list)


def department_tree(state: Mapping[str, Any]) -> Department | None:
    """Arrange an emulator snapshot (departments, users) as a tree under the root (id 1)."""
    depts = {
        int(d["dept_id"]): Department(int(d["dept_id"]), str(d.get("name", "")))
        for d in state.get("departments", [])
    }
    if 1 not in depts:
        return None
    names = {u.get("userid"): u.get("name", "") for u in state.get("users", [])}
    for d in state.get("departments", []):
        parent = depts.get(int(d.get("parent_id") or 0))
        if parent is not None and int(d["dept_id"]) != 1:
            parent.children.append(depts[int(d["dept_id"])])
    for user in sorted(state.get("users", []), key=lambda u: str(u.get("name", ""))):
        person = {
            "name": user.get("name", ""),
            "userid": user.get("userid", ""),
            "title": user.get("title", ""),
            "manager": names.get(user.get("manager_userid"), ""),
        }
        for dept_id in user.get("dept_id_list") or [1]:
            found = depts.get(int(dept_id))
            if found is not None:
                found.people.append(person)
    for dept in depts.values():
        dept.children.sort(key=lambda c: c.name)
    return depts[1]

"""The console's people pages (issue 13): search, a person's page, and "Sync now".

The search and the person page only read our own database (monitor/people_search.py,
monitor/person_view.py): no request calls DingTalk (design.md). "Sync now" is Entra's
"provision on demand": an admin's form inserts a ``sync_now`` console action; the worker
queues the person (sync/console_actions.py), the translator projects them, and the page's
script polls ``status.json`` until the verdict shows the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Response, g, json, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from scim_bridge.directory import console_access
from scim_bridge.directory.console_actions import ActionKind
from scim_bridge.directory.rows import Context
from scim_bridge.errors import AmbiguousPerson, BadRequest, ConfigError, NotFound, UnknownPerson
from scim_bridge.http.acceptance import current_rules
from scim_bridge.http.runtime import Runtime
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.monitor.people import resolve_person
from scim_bridge.monitor.people_search import PAGE_SIZE, search_people
from scim_bridge.monitor.person_view import person_status, person_view

T = TypeVar("T")


def lazy_rules(runtime: Runtime) -> Callable[[], MappingRules]:
    """Return the mapping rules, read on the first person page (a console that never opens
    one, and every SCIM process, never reads the mapping file for it)."""
    source: list[Callable[[], MappingRules]] = []

    def rules() -> MappingRules:
        try:
            if not source:
                source.append(current_rules(runtime.settings))
            return source[0]()
        except ConfigError as exc:
            # The page says what is wrong with the file instead of failing with a 500.
            raise BadRequest(f"the mapping file cannot be read: {exc}") from None

    return rules


def register_people(bp: Blueprint, runtime: Runtime, context: Callable[[str], Context]) -> None:
    """Add /admin/people (search), /admin/people/<id> (the page), its poll and "Sync now";
    ``context(actor)`` is the audit context of a console request (admin.console_context)."""
    rules = lazy_rules(runtime)

    @bp.get("/people")
    def people() -> str:
        offset = _offset(request.args.get("offset", "0"))
        with runtime.db.read() as session:
            page = search_people(session, request.args.get("q", ""), offset=offset)
        return render_template("admin/people.html", page=page, size=PAGE_SIZE)

    @bp.get("/people/<scim_id>")
    def person(scim_id: str) -> str:
        view = _explained(lambda: person_view(
            runtime.db, runtime.settings, rules(), scim_id, now=runtime.clock()
        ))  # fmt: skip
        return render_template("admin/person.html", view=view, e=view.explanation)

    @bp.get("/people/<scim_id>/status.json", endpoint="person_status")
    def person_status_json(scim_id: str) -> Response:
        data = _explained(lambda: person_status(
            runtime.db, runtime.settings, rules(), scim_id, now=runtime.clock()
        ))  # fmt: skip
        return Response(json.dumps(data), mimetype="application/json")

    @bp.post("/people/<scim_id>/sync")
    def person_sync(scim_id: str) -> BaseResponse:
        # An unknown person is a 404 before anything is queued; the action names the SCIM id
        # (the worker queues that), however the page was reached.
        with runtime.db.read() as session:
            found = _explained(lambda: resolve_person(session, scim_id)).scim_id
        console_access.request_action(
            runtime.db,
            context(g.admin.name),
            g.admin,
            kind=ActionKind.SYNC_NOW.value,
            target=found,
        )
        return redirect(url_for("admin.person", scim_id=found))


def _explained(build: Callable[[], T]) -> T:
    """Run a person read; an unknown or ambiguous name is a 404 or 400 page."""
    try:
        return build()
    except UnknownPerson as exc:
        raise NotFound(str(exc)) from None
    except AmbiguousPerson as exc:
        raise BadRequest(str(exc)) from None


def _offset(text: str) -> int:
    """Parse the search's page offset; anything but a small whole number is a 400."""
    if not text.isdigit():
        raise BadRequest(f"offset {text!r} is not a whole number; use e.g. offset=25")
    return int(text)

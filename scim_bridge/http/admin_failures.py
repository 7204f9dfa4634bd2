"""The console's failures page (issue 13): dead letters grouped by cause, and the guard's pause.

Reading is monitor/dead_letter_groups.py and monitor/guard_state.py; acting is a console action
row (retry one, a group or all; drop one or a group; confirm or reject the guard's burst) that
the worker carries out (sync/console_actions.py). The request never touches DingTalk and never
moves an outbox row itself (design.md). Retry, confirm and reject post to ``/admin/actions``;
drop has its own confirmation step here: a page that says how many letters will go, and a post
that drops only if that count still holds (a group that grew since is shown again).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from scim_bridge.directory import admins, console_access
from scim_bridge.directory.console_actions import ActionKind, actions_on
from scim_bridge.directory.models import DeadLetter
from scim_bridge.directory.rows import Context
from scim_bridge.errors import BadRequest, NotFound
from scim_bridge.http.runtime import Runtime
from scim_bridge.monitor import guard_state
from scim_bridge.monitor.dead_letter_groups import (
    GROUP_PREFIX,
    PER_PAGE,
    DeadLetterGroup,
    dead_letter_groups,
    find_group,
    group_letters,
)

#: The actions this page shows the progress of.
KINDS = (
    ActionKind.RETRY.value,
    ActionKind.DROP.value,
    ActionKind.GUARD_CONFIRM.value,
    ActionKind.GUARD_REJECT.value,
)


def register_failures(
    bp: Blueprint, runtime: Runtime, *, context: Callable[[Runtime, str], Context]
) -> None:
    """Add /admin/failures, a group's page, and the drop confirmation to the console.

    ``context(runtime, actor)`` is the audit context of a console request (http/admin.py)."""

    @bp.get("/failures")
    def failures() -> str:
        with runtime.db.read() as session:
            groups = dead_letter_groups(session)
            pause = guard_state.paused(session)
            rejection = guard_state.rejection(session)
            counted, removals = guard_state.counted_removals(session, limit=20)
            actions = actions_on(session, kinds=KINDS, limit=10)
        return render_template(
            "admin/failures.html",
            groups=groups,
            total=sum(g.count for g in groups),
            pause=pause,
            rejection=rejection,
            counted=counted,
            removals=removals,
            actions=actions,
            waiting=any(a.done_at is None for a in actions),
        )

    @bp.get("/failures/<key>")
    def failure_group(key: str) -> str:
        page = _page_number(request.args.get("page"))
        with runtime.db.read() as session:
            group = _group(session, key)
            letters = group_letters(session, group, page=page)
            actions = actions_on(session, kinds=KINDS, limit=5)
        pages = max(1, -(-group.count // PER_PAGE))
        return render_template(
            "admin/failure_group.html",
            group=group,
            letters=letters,
            page=page,
            pages=pages,
            actions=actions,
            waiting=any(a.done_at is None for a in actions),
        )

    @bp.route("/failures/drop", methods=["GET", "POST"])
    def drop() -> BaseResponse | str:
        target = request.values.get("target", "")
        if request.method == "POST":
            admins.require_admin(g.admin)  # a viewer's post is refused, whatever its count
        with runtime.db.read() as session:
            count, what = _drop_target(session, target)
        if request.method == "GET" or request.form.get("count") != str(count):
            # The confirmation step: say how many letters will go (again, if it changed).
            return render_template("admin/failure_drop.html", target=target, count=count, what=what)
        admin: admins.Admin = g.admin
        console_access.request_action(
            runtime.db,
            context(runtime, admin.name),
            admin,
            kind=ActionKind.DROP.value,
            # The worker drops a cause only while it holds the count confirmed here.
            target=f"{target}@{count}" if target.startswith(GROUP_PREFIX) else target,
        )
        return redirect(url_for("admin.failures"))


def _page_number(raw: str | None) -> int:
    try:
        page = int(raw or "1")
    except ValueError:
        raise BadRequest("page must be a whole number, e.g. ?page=2") from None
    if page < 1 or page > 100_000:
        raise BadRequest("page must be between 1 and 100000")
    return page


def _group(session: Session, key: str) -> DeadLetterGroup:
    group = find_group(session, key)
    if group is None:
        raise NotFound("no dead letter has this cause any more (fixed, retried or dropped)")
    return group


def _drop_target(session: Session, target: str) -> tuple[int, str]:
    """Return how many letters a drop target names now, and what it is in words."""
    if target.startswith(GROUP_PREFIX):
        group = _group(session, target.removeprefix(GROUP_PREFIX))
        return group.count, f"every dead letter of the cause “{group.headline}”"
    if target.isdigit():
        letter = session.get(DeadLetter, int(target))
        if letter is None:
            raise NotFound(f"no dead letter {target} (retried, dropped or fixed since)")
        return 1, f"dead letter {target} ({letter.resource_type} {letter.resource_id})"
    raise BadRequest("target must be a dead letter's id or group:<key> from the failures page")

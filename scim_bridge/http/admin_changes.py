"""The console's changes page (issue 13): the plan preview, the last reconcile's drift, the mapping.

- The plan preview is what ``scim-bridge plan --source links`` lists for the mapping in force,
  by target and kind with field diffs. Planning 100,000 people takes far longer than a page
  may, so the worker computes it on an admin's request (a ``plan`` console action) and the page
  shows the stored one with its age and whether the mapping changed since
  (monitor/plan_preview.py).
- The last reconcile's drift by kind comes from ``reconcile_runs``; "apply" is an ``apply``
  console action: the worker reconciles and queues the repairs through the outbox, the
  normal repair path of ``reconcile --apply``.
- The mapping file's validation is ``scim-bridge mapping check``'s, read from the file now
  (a few milliseconds; no DingTalk call, no database write).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, render_template

from scim_bridge.directory.console_actions import ActionKind, actions_on
from scim_bridge.http.runtime import Runtime
from scim_bridge.mapping.rules import check_rules_file, load_rules, rules_path
from scim_bridge.monitor.plan_preview import ROWS_PER_KIND, stored_preview
from scim_bridge.monitor.reconcile_state import latest
from scim_bridge.settings import Settings

#: The actions this page shows the progress of.
KINDS = (ActionKind.PLAN.value, ActionKind.APPLY.value)


@dataclass(frozen=True)
class MappingCheck:
    """The mapping file in force: where, its problems, and its fingerprint when valid."""

    path: str
    problems: tuple[str, ...]
    fingerprint: str | None


def check_mapping(settings: Settings) -> MappingCheck:
    """Validate the mapping file the settings name, as `scim-bridge mapping check` does."""
    path = rules_path(settings)
    problems = tuple(check_rules_file(path))
    fingerprint = None if problems else load_rules(path).fingerprint
    return MappingCheck(str(path), problems, fingerprint)


class MappingChecks:
    """The mapping file's check, redone only when the file changes (size or mtime).

    Compiling the rules takes about a hundred milliseconds, half a page's budget, and the file
    changes rarely. Threads racing on a change both check it: harmless, the answer is the same.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._seen: tuple[int, int] | None = None
        self._check: MappingCheck | None = None

    def __call__(self) -> MappingCheck:
        """Return the check of the file as it is now."""
        try:
            stat = rules_path(self._settings).stat()
            seen: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            seen = None  # missing or unreadable: check_rules_file says so, every time
        if seen is None or seen != self._seen or self._check is None:
            self._check, self._seen = check_mapping(self._settings), seen
        return self._check


def register_changes(bp: Blueprint, runtime: Runtime) -> None:
    """Add /admin/changes to the console."""
    checks = MappingChecks(runtime.settings)

    @bp.get("/changes")
    def changes() -> str:
        mapping = checks()
        with runtime.db.read() as session:
            preview = stored_preview(session)
            run = latest(session)
            actions = actions_on(session, kinds=KINDS, limit=5)
        now = runtime.clock()
        return render_template(
            "admin/changes.html",
            mapping=mapping,
            preview=preview,
            preview_age=_age(now - preview.computed_at) if preview else None,
            stale=bool(preview and mapping.fingerprint != preview.fingerprint),
            cap=ROWS_PER_KIND,
            run=run,
            run_age=_age(now - (run.finished_at or run.started_at)) if run else None,
            actions=actions,
            waiting=any(a.done_at is None for a in actions),
        )


def _age(delta: timedelta) -> str:
    """Say how old something is, in the largest whole unit."""
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"

"""The desired state of a few records, for a targeted reconcile (a DingTalk change event).

A full reconcile projects the whole directory (mapping/project.project_directory); an event
names a handful of people and departments, so only they are projected, through the same
mapping functions the translator uses for one person (project_user, DepartmentResolver) over a
database view. Their managers are projected too: the decision engine sets a manager only when
the manager is a projected person, so leaving them out would report every manager as drift.
"""

from __future__ import annotations

from collections.abc import Iterable

from scim_bridge.directory.db import Database
from scim_bridge.mapping.departments import DepartmentResolver, group_passes
from scim_bridge.mapping.model import Projection, UserProjection
from scim_bridge.mapping.project import managed_fields, project_user
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.sync.reconcile_compare import group_id_of
from scim_bridge.sync.view import DatabaseDirectory


def desired_subset(
    db: Database, rules: MappingRules, *, user_ids: Iterable[str], dept_keys: Iterable[str]
) -> Projection:
    """Project these SCIM users (and their managers) and these department keys only."""
    with db.read() as session:
        view = DatabaseDirectory(session)
        resolver = DepartmentResolver(rules, view)
        users: dict[str, UserProjection] = {}
        for scim_id in dict.fromkeys(user_ids):
            projection = _project(view, rules, scim_id, users)
            if projection is None:
                continue  # deleted in the IdP: not wanted in DingTalk
            for key in projection.department_keys:
                resolver.ensure(key)
            manager = projection.manager_scim_id
            if manager and manager not in users:
                _project(view, rules, manager, users)
        for key in dept_keys:
            group_id = group_id_of(key)
            if group_id is None:
                resolver.ensure(key)  # a path or a subsidiary: wanted while someone is in it
                continue
            group = view.group(group_id)
            if group is not None and group_passes(group, rules):
                resolver.ensure(key)
        specs = dict(resolver.specs)
    return Projection(
        departments=specs,
        users=users,
        roles={},
        managed_fields=managed_fields(rules),
        link_conflict=rules.link.on_conflict,
        rules_fingerprint=rules.fingerprint,
    )


def _project(
    view: DatabaseDirectory, rules: MappingRules, scim_id: str, into: dict[str, UserProjection]
) -> UserProjection | None:
    user = view.user(scim_id)
    if user is None:
        return None
    into[scim_id] = project_user(user, rules, view)
    return into[scim_id]

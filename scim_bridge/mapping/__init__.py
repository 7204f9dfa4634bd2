"""The mapping engine: rules + directory state -> desired DingTalk users and departments (pure).

The decisions that converge DingTalk on this desired state are sync/decide.py's.

Public API (the sync engine and the CLI code against these names)::

    load_rules, parse_rules, check_rules_file, default_rules_path, rules_path   # rules.py
    project_user, project_directory, changed_resources                          # project.py
    quality_report, render_quality, QualityReport                               # quality.py
    evaluate_guard, confirm, Removal, Confirmation, GuardDecision               # guard.py
"""

from scim_bridge.mapping.departments import DirectoryView, InMemoryDirectory
from scim_bridge.mapping.guard import (
    Confirmation,
    GuardDecision,
    GuardError,
    Removal,
    confirm,
    evaluate_guard,
)
from scim_bridge.mapping.model import (
    ROOT_DEPT_ID,
    ROOT_KEY,
    DepartmentSpec,
    Projection,
    RoleSpec,
    UserProjection,
)
from scim_bridge.mapping.project import (
    ProjectionChanges,
    changed_resources,
    project_directory,
    project_user,
)
from scim_bridge.mapping.quality import Finding, QualityReport, quality_report, render_quality
from scim_bridge.mapping.rules import (
    MappingRules,
    check_rules_file,
    default_rules_path,
    load_rules,
    parse_rules,
    rules_path,
)

__all__ = [
    "ROOT_DEPT_ID",
    "ROOT_KEY",
    "Confirmation",
    "DepartmentSpec",
    "DirectoryView",
    "Finding",
    "GuardDecision",
    "GuardError",
    "InMemoryDirectory",
    "MappingRules",
    "Projection",
    "ProjectionChanges",
    "QualityReport",
    "Removal",
    "RoleSpec",
    "UserProjection",
    "changed_resources",
    "check_rules_file",
    "confirm",
    "default_rules_path",
    "evaluate_guard",
    "load_rules",
    "parse_rules",
    "project_directory",
    "project_user",
    "quality_report",
    "render_quality",
    "rules_path",
]

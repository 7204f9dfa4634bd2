"""The data-quality report: what in the directory would block or degrade the projection."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scim_bridge.mapping import policies
from scim_bridge.mapping.departments import InMemoryDirectory
from scim_bridge.mapping.model import UPSERT
from scim_bridge.mapping.project import UserResult, assemble_detailed, project_user_detailed
from scim_bridge.mapping.rules import MappingRules

BLOCKING = "blocking"
WARNING = "warning"

#: Every check, in report order: (severity, what it means). Blocking means a DingTalk call
#: would be refused (required field missing, a unique value taken, an unorderable manager chain).
CHECKS: Mapping[str, tuple[str, str]] = {
    "mobile_missing": (BLOCKING, "no mobile number (DingTalk requires one)"),
    "mobile_invalid": (BLOCKING, "mobile number is not valid"),
    "mobile_duplicate": (BLOCKING, "mobile number shared with another user (must be unique)"),
    "email_duplicate": (BLOCKING, "e-mail shared with another user (must be unique)"),
    "userid_duplicate": (BLOCKING, "userid shared with another user (must be unique)"),
    "name_missing": (BLOCKING, "no name (DingTalk requires one)"),
    "manager_cycle": (BLOCKING, "manager chain loops back to the user"),
    "department_name_clash": (BLOCKING, "two departments with one name under one parent"),
    "name_over_limit": (WARNING, "name longer than DingTalk allows; trimmed"),
    "field_over_limit": (WARNING, "a field longer than DingTalk allows; trimmed or dropped"),
    "field_invalid": (WARNING, "a field value DingTalk would refuse; left unset"),
    "department_name": (WARNING, "department name changed to fit DingTalk's rules"),
    "no_department": (WARNING, "in no department; placed in the default department"),
    "manager_out_of_scope": (WARNING, "manager is not in the directory or not projected"),
    "manager_self": (WARNING, "user is their own manager"),
    "scope_dropped": (WARNING, "dropped by the scope filter; not projected"),
}

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Finding:
    """One problem with one user (or department)."""

    check: str
    severity: str
    subject: str  # SCIM user id, or department key
    name: str  # userName, or department name
    detail: str

    def to_dict(self) -> dict[str, str]:
        """Return the finding as JSON-able data."""
        return {
            "check": self.check,
            "severity": self.severity,
            "id": self.subject,
            "name": self.name,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class QualityReport:
    """Counts per check and the list of findings."""

    findings: tuple[Finding, ...]
    users_checked: int
    groups_checked: int

    @property
    def counts(self) -> dict[str, int]:
        """Return the number of findings per check (checks with none are left out)."""
        counts = Counter(f.check for f in self.findings)
        return {check: counts[check] for check in CHECKS if counts[check]}

    @property
    def blocking(self) -> bool:
        """Tell whether anything would block the projection (the CLI exits non-zero)."""
        return any(f.severity == BLOCKING for f in self.findings)

    def of(self, check: str) -> list[Finding]:
        """Return the findings of one check."""
        return [f for f in self.findings if f.check == check]

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-able data."""
        return {
            "users_checked": self.users_checked,
            "groups_checked": self.groups_checked,
            "blocking": self.blocking,
            "counts": self.counts,
            "findings": [f.to_dict() for f in self.findings],
        }


_ISSUE_CHECK = {
    "mobile_invalid": "mobile_invalid",
    "name_over_limit": "name_over_limit",
    "field_invalid": "field_invalid",
    "no_department": "no_department",
    "manager_out_of_scope": "manager_out_of_scope",
    "manager_self": "manager_self",
}


def quality_report(
    users: Iterable[Mapping[str, Any]],
    groups: Iterable[Mapping[str, Any]],
    rules: MappingRules,
    *,
    progress: Progress | None = None,
) -> QualityReport:
    """Check the directory against the rules and DingTalk's constraints."""
    directory = InMemoryDirectory(users, groups)
    all_users = list(directory.users())
    total = len(all_users)
    step = max(1, total // 100)
    findings: list[Finding] = []
    results: list[UserResult] = []
    for n, user in enumerate(all_users, 1):
        result = project_user_detailed(user, rules, directory)
        results.append(result)
        findings.extend(_user_findings(user, result, rules))
        if progress is not None and (n % step == 0 or n == total):
            progress(n, total)
    if progress is not None and total == 0:
        progress(0, 0)
    active = [
        (u, r) for u, r in zip(all_users, results, strict=True) if r.projection.action == UPSERT
    ]
    findings.extend(_duplicates(active))
    findings.extend(_manager_cycles(active))
    projection, dept_warnings = assemble_detailed(results, directory, rules)
    for key in sorted(dept_warnings):
        spec = projection.departments.get(key)
        for warning in dept_warnings[key]:
            findings.append(_finding("department_name", key, spec.name if spec else key, warning))
    siblings: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    for spec in projection.departments.values():
        siblings[(spec.parent_key, spec.name.casefold())].append(spec.key)
    for (parent, _), keys in sorted(siblings.items(), key=lambda kv: sorted(kv[1])):
        if len(keys) > 1:
            for key in sorted(keys):
                spec = projection.departments[key]
                others = ", ".join(k for k in sorted(keys) if k != key)
                findings.append(
                    _finding(
                        "department_name_clash",
                        key,
                        spec.name,
                        f"same name as {others} under {parent or 'the root department'}",
                    )
                )
    order = {check: i for i, check in enumerate(CHECKS)}
    findings.sort(key=lambda f: (order[f.check], f.subject))
    return QualityReport(
        tuple(findings), users_checked=total, groups_checked=len(list(directory.groups()))
    )


def user_findings(user: Mapping[str, Any], rules: MappingRules) -> list[Finding]:
    """Return the findings about one user on its own (no duplicates, no manager chains)."""
    result = project_user_detailed(user, rules, InMemoryDirectory([], []))
    return _user_findings(user, result, rules)


def _finding(check: str, subject: str, name: str, detail: str) -> Finding:
    return Finding(check, CHECKS[check][0], subject, name, detail)


def _label(user: Mapping[str, Any]) -> str:
    return str(user.get("userName") or user.get("displayName") or "")


def _user_findings(
    user: Mapping[str, Any], result: UserResult, rules: MappingRules
) -> list[Finding]:
    projection = result.projection
    scim_id, label = projection.scim_id, _label(user)
    out: list[Finding] = []
    if projection.action != UPSERT:
        if not policies.in_scope(user, rules):
            out.append(_finding("scope_dropped", scim_id, label, projection.reason))
        return out
    codes = {i.code for i in result.issues}
    for issue in result.issues:
        check = _ISSUE_CHECK.get(issue.code)
        if check is None and issue.code.endswith("_over_limit"):
            check = "field_over_limit"
        if check is not None:
            out.append(_finding(check, scim_id, label, issue.message))
    fields = projection.fields
    if "mobile" in rules.fields and "mobile" not in fields and "mobile_invalid" not in codes:
        out.append(_finding("mobile_missing", scim_id, label, "no mobile number found"))
    if "name" in rules.fields and "name" not in fields:
        out.append(_finding("name_missing", scim_id, label, "no name found"))
    return out


def _duplicates(active: list[tuple[Mapping[str, Any], UserResult]]) -> list[Finding]:
    out: list[Finding] = []
    for check, value_of in (
        ("mobile_duplicate", lambda p: p.fields.get("mobile")),
        ("email_duplicate", lambda p: str(p.fields.get("email") or "").casefold() or None),
        ("userid_duplicate", lambda p: p.userid),
    ):
        holders: dict[str, list[tuple[Mapping[str, Any], UserResult]]] = defaultdict(list)
        for user, result in active:
            value = value_of(result.projection)
            if value:
                holders[str(value)].append((user, result))
        for value, group in holders.items():
            if len(group) < 2:
                continue
            ids = [r.projection.scim_id for _, r in group]
            for user, result in group:
                others = ", ".join(i for i in ids if i != result.projection.scim_id)
                out.append(
                    _finding(
                        check,
                        result.projection.scim_id,
                        _label(user),
                        f"{value} is also used by {others}",
                    )
                )
    return out


def _manager_cycles(active: list[tuple[Mapping[str, Any], UserResult]]) -> list[Finding]:
    manager = {
        r.projection.scim_id: r.projection.manager_scim_id
        for _, r in active
        if r.projection.manager_scim_id
    }
    labels = {r.projection.scim_id: _label(u) for u, r in active}
    state: dict[str, int] = {}  # 1 = on the current walk, 2 = done
    out: list[Finding] = []
    for start in sorted(manager):
        walk: list[str] = []
        probe: str | None = start
        while probe is not None and probe not in state:
            state[probe] = 1
            walk.append(probe)
            probe = manager.get(probe)
        if probe is not None and state.get(probe) == 1:
            cycle = walk[walk.index(probe) :]
            chain = " -> ".join([*cycle, cycle[0]])
            for member in sorted(cycle):
                out.append(_finding("manager_cycle", member, labels.get(member, ""), chain))
        for node in walk:
            state[node] = 2
    return out


# --- rendering ------------------------------------------------------------------------------


def render_quality(report: QualityReport, fmt: str = "table") -> str:
    """Render the report as a table, CSV or JSON."""
    if fmt == "json":
        # Compact: indent would take the pure-Python encoder, several times slower at 100k.
        return json.dumps(report.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["check", "severity", "id", "name", "detail"])
        for f in report.findings:
            writer.writerow([f.check, f.severity, f.subject, f.name, f.detail])
        return buf.getvalue()
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; use table, csv or json")
    lines = [
        f"Checked {report.users_checked} users and {report.groups_checked} groups.",
        "",
        f"{'CHECK':<24} {'SEVERITY':<9} {'COUNT':>6}  MEANING",
    ]
    counts = report.counts
    for check, (severity, meaning) in CHECKS.items():
        lines.append(f"{check:<24} {severity:<9} {counts.get(check, 0):>6}  {meaning}")
    if report.findings:
        lines += ["", f"{'CHECK':<24} {'SEVERITY':<9} {'ID':<38} {'NAME':<30} DETAIL"]
        for f in report.findings:
            lines.append(f"{f.check:<24} {f.severity:<9} {f.subject:<38} {f.name:<30} {f.detail}")
    lines.append("")
    lines.append(
        "Blocking problems found: projection would fail for the users listed."
        if report.blocking
        else "No blocking problems."
    )
    return "\n".join(lines) + "\n"

"""SCIM filters and sort orders as SQL (RFC 7644 §3.4.2.2–3): the table is never scanned in Python.

Each attribute is stored in one of four places, and compiles to SQL accordingly:
an indexed column (userName, externalId, displayName, active, meta dates), a row of
``user_values`` (multi-valued complex attributes, one row per element), a membership row
(``groups`` of a user, ``members`` of a group), or a JSON path inside ``data``.
Comparisons follow the schema: caseExact false compares lowered text, dateTime compares dates.

A query runs as one IdP sees the directory (``scope``; None for every IdP): the rows listed are
that IdP's, and membership filters (``members.value``, ``groups.value`` …) match only members
and groups of that IdP, exactly as if the others did not exist (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from scim_bridge.directory.models import Group, GroupMember, User, UserValue
from scim_bridge.directory.paging import PageHints, keyset_after, page_key
from scim_bridge.errors import InvalidFilter
from scim_bridge.scim.filters import (
    And,
    AttrRef,
    Compare,
    Node,
    Not,
    Or,
    ValuePath,
    parse_datetime,
)
from scim_bridge.scim.listing import ListQuery
from scim_bridge.scim.schema import ENTERPRISE_USER, Attribute, ResourceType, registry

#: Multi-valued complex User attributes kept one element per row in ``user_values``.
VALUE_TABLE_ATTRS = (
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
)
_VALUE_TABLE_LOWER = {a.lower(): a for a in VALUE_TABLE_ATTRS}


@dataclass(frozen=True)
class _Column:
    expr: Any
    kind: str  # string | boolean | dateTime | integer | decimal
    lowered: bool = False  # the column already holds lower-case text


def _user_columns() -> dict[str, _Column]:
    return {
        "id": _Column(User.id, "string"),
        "username": _Column(User.user_name_key, "string", lowered=True),
        "externalid": _Column(User.external_id, "string"),
        "displayname": _Column(User.display_name_key, "string", lowered=True),
        "active": _Column(User.active, "boolean"),
        "meta.created": _Column(User.created, "dateTime"),
        "meta.lastmodified": _Column(User.last_modified, "dateTime"),
        "meta.resourcetype": _Column(literal("User"), "string"),
    }


def _group_columns() -> dict[str, _Column]:
    return {
        "id": _Column(Group.id, "string"),
        "displayname": _Column(Group.display_name_key, "string", lowered=True),
        "externalid": _Column(Group.external_id, "string"),
        "meta.created": _Column(Group.created, "dateTime"),
        "meta.lastmodified": _Column(Group.last_modified, "dateTime"),
        "meta.resourcetype": _Column(literal("Group"), "string"),
    }


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def visible_member(scope: str | None) -> ColumnElement[bool]:
    """Return the condition on a ``group_members`` row that its member (a User or a Group)
    belongs to ``scope``: another IdP's member is as if absent. True for every IdP."""
    if scope is None:
        return true()
    member_group = aliased(Group)
    return or_(
        exists().where(User.id == GroupMember.member_id, User.idp == scope),
        exists().where(member_group.id == GroupMember.member_id, member_group.idp == scope),
    )


def visible_group(scope: str | None) -> ColumnElement[bool]:
    """Return the condition on a ``group_members`` row that its group belongs to ``scope``."""
    if scope is None:
        return true()
    group = aliased(Group)
    return exists().where(group.id == GroupMember.group_id, group.idp == scope)


class FilterCompiler:
    """Compile our filter AST to a SQLAlchemy WHERE clause for Users or Groups, as ``scope``
    sees the directory (None: every IdP)."""

    def __init__(self, resource_type: str, dialect: str, *, scope: str | None = None) -> None:
        self.rt: ResourceType = registry().resource_types[resource_type]
        self.model: Any = User if resource_type == "User" else Group
        self.columns = _user_columns() if resource_type == "User" else _group_columns()
        self.dialect = dialect
        self.scope = scope

    def compile(self, node: Node) -> ColumnElement[bool]:
        """Return the WHERE clause for a filter."""
        if isinstance(node, And):
            return and_(self.compile(node.left), self.compile(node.right))
        if isinstance(node, Or):
            return or_(self.compile(node.left), self.compile(node.right))
        if isinstance(node, Not):
            return not_(self.compile(node.expr))
        if isinstance(node, ValuePath):
            return self._value_path(node)
        return self._compare(node)

    # --- attribute resolution ---------------------------------------------------------------

    def _resolve(self, ref: AttrRef) -> tuple[Any, Attribute, Attribute | None]:
        found = self.rt.resolve(ref.attr, ref.urn)
        if found is None and ref.urn is None:
            # RFC 7644 §3.10: clients SHOULD (not MUST) qualify extension attributes; Entra's
            # manager check sends `manager eq "<id>"` (scim-idp-notes §2.14). A name exactly
            # one extension defines is what the filter means, as in PATCH paths.
            hits = [(e, a) for e in self.rt.extensions if (a := e.attribute(ref.attr)) is not None]
            if len(hits) == 1:
                found = hits[0]
        if found is None:
            if ref.attr.lower() == "meta" and ref.urn is None:
                return None, Attribute("meta", "complex"), None
            where = f" in {ref.urn}" if ref.urn else ""
            raise InvalidFilter(f"unknown attribute {ref.attr!r}{where} in filter")
        schema, attr = found
        sub = None
        if ref.sub_attr is not None:
            sub = attr.sub(ref.sub_attr)
            if sub is None:
                raise InvalidFilter(f"unknown attribute {ref.attr}.{ref.sub_attr} in filter")
        return schema, attr, sub

    def _compare(self, node: Compare) -> ColumnElement[bool]:
        ref = node.attr
        dotted = ref.dotted().lower()
        if ref.urn is None or ref.urn.lower() == self.rt.core.id.lower():
            column = self.columns.get(dotted)
            if column is not None:
                return self._apply(column, node.op, node.value, case_exact=not column.lowered)
        schema, attr, sub = self._resolve(ref)
        if attr.name == "meta":
            raise InvalidFilter(f"meta.{ref.sub_attr} cannot be filtered")
        if (
            self.model is User
            and schema.id == ENTERPRISE_USER
            and attr.name == "manager"
            and (sub is None or sub.name == "value")
        ):
            # Indexed copy of manager.value (Entra's manager check; "who reports to X").
            return self._apply(
                _Column(User.manager_id, "string"), node.op, node.value, case_exact=True
            )
        if (
            self.model is User
            and attr.name.lower() in _VALUE_TABLE_LOWER
            and schema is self.rt.core
        ):
            return self._value_rows(
                attr, Compare(AttrRef(sub.name if sub else "value"), node.op, node.value)
            )
        if attr.name == "groups" and self.model is User:
            return self._user_groups(sub, node)
        if attr.name == "members" and self.model is Group:
            return self._group_members(sub, node)
        if attr.multi_valued:
            raise InvalidFilter(f"filtering on {attr.name} is not supported")
        target = sub
        if attr.is_complex and sub is None:
            # RFC 7644 §3.4.2.2: a complex attribute without a sub-attribute compares "value"
            # (Entra's `manager eq "<id>"`).
            target = attr.sub("value")
            if target is None:
                raise InvalidFilter(f"{attr.name} is complex; name a sub-attribute")
        leaf = target or attr
        path = [attr.name] + ([target.name] if target is not None else [])
        if schema is not self.rt.core:
            path = [schema.id, *path]
        column = _Column(_json_column(self.model.data, path, leaf.type), _json_kind(leaf.type))
        return self._apply(column, node.op, node.value, case_exact=leaf.case_exact)

    # --- multi-valued attributes ------------------------------------------------------------

    def _value_path(self, node: ValuePath) -> ColumnElement[bool]:
        schema, attr, _ = self._resolve(node.attr)
        if (
            self.model is User
            and attr.name.lower() in _VALUE_TABLE_LOWER
            and schema is self.rt.core
        ):
            return self._value_rows(attr, node.filter)
        if attr.name == "members" and self.model is Group:
            return self._members_filter(node.filter)
        if attr.name == "groups" and self.model is User:
            return self._user_groups_filter(node.filter)
        raise InvalidFilter(f"{attr.name} does not take a value filter")

    def _value_rows(self, attr: Attribute, inner: Node) -> ColumnElement[bool]:
        cond = self._element_condition(attr, inner)
        return exists().where(UserValue.user_id == User.id, UserValue.attr == attr.name, cond)

    def _element_condition(self, attr: Attribute, node: Node) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(
                self._element_condition(attr, node.left), self._element_condition(attr, node.right)
            )
        if isinstance(node, Or):
            return or_(
                self._element_condition(attr, node.left), self._element_condition(attr, node.right)
            )
        if isinstance(node, Not):
            return not_(self._element_condition(attr, node.expr))
        if isinstance(node, ValuePath):
            raise InvalidFilter("value filters cannot be nested")
        name = node.attr.attr if node.attr.sub_attr is None else node.attr.sub_attr
        sub = attr.sub(name)
        if sub is None:
            raise InvalidFilter(f"unknown attribute {attr.name}.{name} in filter")
        if sub.name == "value":
            column = (
                _Column(UserValue.value, "string")
                if sub.case_exact
                else _Column(UserValue.value_key, "string", lowered=True)
            )
        elif sub.name == "type":
            column = _Column(UserValue.type_key, "string", lowered=True)
        elif sub.name == "primary":
            column = _Column(UserValue.primary, "boolean")
        else:
            column = _Column(
                _json_column(UserValue.element, [sub.name], sub.type), _json_kind(sub.type)
            )
        return self._apply(column, node.op, node.value, case_exact=sub.case_exact)

    def _member_condition(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(self._member_condition(node.left), self._member_condition(node.right))
        if isinstance(node, Or):
            return or_(self._member_condition(node.left), self._member_condition(node.right))
        if isinstance(node, Not):
            return not_(self._member_condition(node.expr))
        if isinstance(node, ValuePath):
            raise InvalidFilter("value filters cannot be nested")
        name = (node.attr.sub_attr or node.attr.attr).lower()
        if name == "value":
            column = _Column(GroupMember.member_id, "string")
        elif name == "type":
            column = _Column(func.lower(GroupMember.member_type), "string", lowered=True)
        elif name == "display":
            display = (
                select(func.coalesce(User.display_name_key, User.user_name_key))
                .where(User.id == GroupMember.member_id)
                .scalar_subquery()
            )
            column = _Column(display, "string", lowered=True)
        else:
            raise InvalidFilter(f"members.{name} cannot be filtered")
        return self._apply(column, node.op, node.value, case_exact=name == "value")

    def _group_members(self, sub: Attribute | None, node: Compare) -> ColumnElement[bool]:
        inner = Compare(AttrRef(sub.name if sub else "value"), node.op, node.value)
        return self._members_filter(inner)

    def _members_filter(self, inner: Node) -> ColumnElement[bool]:
        return exists().where(
            GroupMember.group_id == Group.id,
            self._member_condition(inner),
            visible_member(self.scope),
        )

    def _user_groups(self, sub: Attribute | None, node: Compare) -> ColumnElement[bool]:
        inner = Compare(AttrRef(sub.name if sub else "value"), node.op, node.value)
        return self._user_groups_filter(inner)

    def _user_groups_filter(self, inner: Node) -> ColumnElement[bool]:
        return exists().where(
            GroupMember.member_id == User.id,
            self._user_group_condition(inner),
            visible_group(self.scope),
        )

    def _user_group_condition(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(
                self._user_group_condition(node.left), self._user_group_condition(node.right)
            )
        if isinstance(node, Or):
            return or_(
                self._user_group_condition(node.left), self._user_group_condition(node.right)
            )
        if isinstance(node, Not):
            return not_(self._user_group_condition(node.expr))
        if isinstance(node, ValuePath):
            raise InvalidFilter("value filters cannot be nested")
        name = (node.attr.sub_attr or node.attr.attr).lower()
        if name == "value":
            return self._apply(
                _Column(GroupMember.group_id, "string"), node.op, node.value, case_exact=True
            )
        if name == "display":
            display = (
                select(Group.display_name_key)
                .where(Group.id == GroupMember.group_id)
                .scalar_subquery()
            )
            return self._apply(
                _Column(display, "string", lowered=True), node.op, node.value, case_exact=False
            )
        if name == "type":
            # Only direct memberships are stored.
            return self._apply(
                _Column(literal("direct"), "string", lowered=True),
                node.op,
                node.value,
                case_exact=False,
            )
        raise InvalidFilter(f"groups.{name} cannot be filtered")

    # --- comparisons ------------------------------------------------------------------------

    def _apply(
        self, column: _Column, op: str, value: Any, *, case_exact: bool
    ) -> ColumnElement[bool]:
        expr = column.expr
        if op == "pr":
            if column.kind == "string":
                return and_(expr.is_not(None), expr != "")
            return expr.is_not(None)
        if value is None:
            if op == "eq":
                return expr.is_(None)
            if op == "ne":
                return expr.is_not(None)
            raise InvalidFilter(f"{op} cannot compare with null")
        if column.kind == "boolean":
            flag = _as_bool(value)
            if flag is None or op not in ("eq", "ne"):
                raise InvalidFilter(
                    f"a boolean attribute takes eq/ne true/false, not {op} {value!r}"
                )
            cond = expr == (true() if flag else false())
            return cond if op == "eq" else or_(not_(cond), expr.is_(None))
        if column.kind in ("dateTime", "jsonDateTime"):
            when = parse_datetime(value) if isinstance(value, str) else None
            if when is None:
                raise InvalidFilter(
                    f"{value!r} is not a dateTime (RFC 3339, e.g. 2024-05-01T00:00:00Z)"
                )
            # JSON holds dateTimes as normalised UTC text (resources.normalize), which sorts
            # like the instant it names.
            return _ordered(expr, op, when if column.kind == "dateTime" else _iso(when))
        if column.kind in ("integer", "decimal"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidFilter(f"{value!r} is not a number")
            return _ordered(expr, op, value)
        text = value if isinstance(value, str) else _literal_text(value)
        if not case_exact:
            text = text.lower()
            if not column.lowered:
                expr = func.lower(expr)
        if op in ("co", "sw", "ew"):
            return self._like(expr, op, text)
        return _ordered(expr, op, text)

    def _like(self, expr: Any, op: str, text: str) -> ColumnElement[bool]:
        if not text:
            return expr.is_not(None)  # every string contains, starts and ends with ""
        if self.dialect == "sqlite":
            # Substring tests, not LIKE: SQLite's LIKE ignores ASCII case (caseExact attributes
            # need exact tests; the others are lowered on both sides already) and refuses
            # patterns over 50,000 bytes ("LIKE or GLOB pattern too complex").
            if op == "co":
                return func.instr(expr, text) > 0
            if op == "sw":
                return func.substr(expr, 1, len(text)) == text
            return func.substr(expr, -len(text)) == text
        esc = _escape_like(text)
        pattern = {"co": f"%{esc}%", "sw": f"{esc}%", "ew": f"%{esc}"}[op]
        return expr.like(pattern, escape="\\")


def _ordered(expr: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "eq":
        return expr == value
    if op == "ne":
        return or_(expr != value, expr.is_(None))
    if op == "gt":
        return expr > value
    if op == "ge":
        return expr >= value
    if op == "lt":
        return expr < value
    if op == "le":
        return expr <= value
    raise InvalidFilter(f"unsupported operator {op!r}")


def _json_column(data: Any, path: list[str], kind: str) -> Any:
    node = data[tuple(path)] if len(path) > 1 else data[path[0]]
    if kind == "boolean":
        return node.as_boolean()
    if kind == "integer":
        return node.as_integer()
    if kind == "decimal":
        return node.as_float()
    return node.as_string()


def _json_kind(kind: str) -> str:
    return "jsonDateTime" if kind == "dateTime" else kind


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _literal_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- sorting -------------------------------------------------------------------------------


def sort_expression(resource_type: str, ref: AttrRef) -> Any:
    """Return the SQL expression to ORDER BY for a sortBy attribute (RFC 7644 §3.4.2.3)."""
    compiler = FilterCompiler(resource_type, "generic")
    dotted = ref.dotted().lower()
    if ref.urn is None or ref.urn.lower() == compiler.rt.core.id.lower():
        column = compiler.columns.get(dotted)
        if column is not None:
            return column.expr
    schema, attr, sub = compiler._resolve(ref)
    if resource_type == "User" and attr.name.lower() in _VALUE_TABLE_LOWER:
        # Multi-valued: sort by the primary (else the smallest) value.
        return (
            select(func.min(UserValue.value_key))
            .where(UserValue.user_id == User.id, UserValue.attr == attr.name)
            .scalar_subquery()
        )
    if attr.multi_valued:
        raise InvalidFilter(f"cannot sort by {attr.name}")
    target = sub or (attr.sub("value") if attr.is_complex else None)
    path = [attr.name] + ([target.name] if target is not None else [])
    if schema is not compiler.rt.core:
        path = [schema.id, *path]
    leaf = target or attr
    expr = _json_column(compiler.model.data, path, leaf.type)
    return expr if leaf.case_exact or leaf.type != "string" else func.lower(expr)


# --- listing -------------------------------------------------------------------------------


def list_page(
    session: Session,
    resource_type: str,
    query: ListQuery,
    *,
    scope: str | None,
    hints: PageHints | None = None,
) -> tuple[int, list[Any]]:
    """Return the total and one page of the Users or Groups ``scope`` sees (None: every IdP's)
    matching a ListQuery, all in SQL."""
    model: Any = User if resource_type == "User" else Group
    dialect = session.get_bind().dialect.name
    compiler = FilterCompiler(resource_type, dialect, scope=scope)
    where = compiler.compile(query.filter) if query.filter else None
    if scope is not None:
        where = model.idp == scope if where is None else and_(model.idp == scope, where)
    count_stmt = select(func.count()).select_from(model)
    if where is not None:
        count_stmt = count_stmt.where(where)
    if query.count == 0:
        return int(session.scalar(count_stmt) or 0), []
    stmt = select(model)
    if where is not None:
        stmt = stmt.where(where)
    if query.sort_by is not None:
        expr = sort_expression(resource_type, query.sort_by)
        order = expr.desc() if query.descending else expr.asc()
        stmt = stmt.order_by(order.nulls_last(), model.created, model.id)
        stmt = stmt.offset(query.start_index - 1)
    else:
        key = page_key(resource_type, scope, query.filter_text, query.start_index)
        after = hints.get(key) if hints is not None and query.start_index > 1 else None
        stmt = stmt.order_by(model.created, model.id)
        stmt = (
            stmt.where(keyset_after(model, after)) if after else stmt.offset(query.start_index - 1)
        )
    rows = list(session.scalars(stmt.limit(query.count)))
    if hints is not None and query.sort_by is None and rows:
        next_key = page_key(resource_type, scope, query.filter_text, query.start_index + len(rows))
        hints.put(next_key, (rows[-1].created, rows[-1].id))
    if query.start_index == 1 and len(rows) < query.count:
        # The first page holds every match (Okta's and Entra's existence checks): that is
        # the total, no COUNT needed.
        return len(rows), rows
    return int(session.scalar(count_stmt) or 0), rows

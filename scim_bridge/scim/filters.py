"""SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): parse and evaluate them.

Parsing uses scim2-filter-parser's lexer and parser, with three corrections:

* its NUMBER token is a single digit and its string token knows no escapes, so the lexer is
  subclassed with RFC 7159 number and string rules, and literals keep their JSON type;
* it gives ``and`` and ``or`` the same precedence, so ``a or b and c`` parses as
  ``(a or b) and c``; each ungrouped chain is rebuilt here with ``and`` binding tighter;
* Microsoft's clients send unquoted values (``externalId eq jyoung``); ``lenient=True`` quotes them.

The result is our own small AST, which ``directory/queries.py`` turns into SQL and
:func:`matches` evaluates against a resource dict (PATCH value filters, mapping scope filters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from scim2_filter_parser import ast as lib_ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError

from scim_bridge.errors import InvalidFilter, InvalidPath
from scim_bridge.scim.text import storable

COMPARISON_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
ORDERING_OPS = frozenset({"gt", "ge", "lt", "le"})

Literal: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True)
class AttrRef:
    """An attribute reference as written: optional schema URN, attribute, optional sub-attribute."""

    attr: str
    sub_attr: str | None = None
    urn: str | None = None

    def dotted(self) -> str:
        """Return ``attr`` or ``attr.sub`` (without the URN)."""
        return f"{self.attr}.{self.sub_attr}" if self.sub_attr else self.attr


@dataclass(frozen=True)
class Compare:
    """``attr op value``, or ``attr pr`` (value is None)."""

    attr: AttrRef
    op: str
    value: Literal = None


@dataclass(frozen=True)
class And:
    """Both sides hold."""

    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    """Either side holds."""

    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    """The inner filter does not hold."""

    expr: Node


@dataclass(frozen=True)
class ValuePath:
    """``attr[filter]``: some element of a multi-valued attribute matches the inner filter."""

    attr: AttrRef
    filter: Node


Node: TypeAlias = Compare | And | Or | Not | ValuePath


@dataclass(frozen=True)
class Path:
    """A PATCH path (RFC 7644 §3.5.2): ``attrPath / valuePath [subAttr]``."""

    attr: str | None
    sub_attr: str | None = None
    urn: str | None = None
    filter: Node | None = None


# --- lexing ------------------------------------------------------------------------------------


#: Why a literal is refused (its decoded text could not be stored nor compared in SQL).
UNSTORABLE_LITERAL = (
    "a filter literal contains NUL or an unpaired surrogate once its escapes are decoded "
    "(RFC 7643 §2.3.1: strings are Unicode, encoded as UTF-8)"
)


class _Lexer(SCIMLexer):
    """scim2-filter-parser's lexer with RFC 7159 numbers and strings, and typed literals."""

    tokens = SCIMLexer.tokens

    @_(r'"(?:[^"\\]|\\.)*"')  # type: ignore[name-defined]  # noqa: F821
    def COMP_VALUE(self, t: Any) -> Any:
        t.value = json.loads(t.value)
        # The request's raw text was checked before parsing; its escapes ("\u0000", "\ud800")
        # are decoded only now, and decoded text must be held to the same rule.
        if not storable(t.value):
            raise InvalidFilter(UNSTORABLE_LITERAL)
        return t

    @_(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")  # type: ignore[name-defined]  # noqa: F821
    def NUMBER(self, t: Any) -> Any:
        text = t.value
        t.value = float(text) if any(c in text for c in ".eE") else int(text)
        return t

    @_(r"true|True|TRUE")  # type: ignore[name-defined]  # noqa: F821
    def TRUE(self, t: Any) -> Any:
        t.value = True
        return t

    @_(r"false|False|FALSE")  # type: ignore[name-defined]  # noqa: F821
    def FALSE(self, t: Any) -> Any:
        t.value = False
        return t

    @_(r"null|Null|NULL")  # type: ignore[name-defined]  # noqa: F821
    def NULL(self, t: Any) -> Any:
        t.value = None
        return t


_OPERATOR_WORD = re.compile(r"(?i)\b(eq|ne|co|sw|ew|gt|ge|lt|le)\s+")
_BARE_VALUE = re.compile(r"[^\s()\[\]\"]+")
_JSON_LITERAL = re.compile(r"(?i)^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)$")


def quote_bare_values(text: str) -> str:
    """Quote unquoted comparison values (``externalId eq jyoung``), leaving quoted strings alone."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            end = _end_of_string(text, i)
            out.append(text[i:end])
            i = end
            continue
        m = _OPERATOR_WORD.match(text, i)
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "._:$")):
            out.append(m.group(0))
            i = m.end()
            v = _BARE_VALUE.match(text, i)
            if v and not _JSON_LITERAL.match(v.group(0)):
                out.append(json.dumps(v.group(0)))
                i = v.end()
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _end_of_string(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    return len(text)


# --- parsing -----------------------------------------------------------------------------------


#: Limits on a filter's shape. Real filters nest two or three levels and join a handful of
#: comparisons; far larger ones overflow the SQL parser (SQLite's stack holds about 45 "not ("
#: levels, its expression trees 1,000 levels) or our own recursion, and would answer 500.
MAX_FILTER_DEPTH = 10
MAX_FILTER_TERMS = 200
_LOGICAL = re.compile(r"\b(?:and|or)\b", re.IGNORECASE)


def _shape(text: str) -> tuple[int, int]:
    """Return a filter's deepest nesting of ( and [ and its number of and/or joins."""
    depth = deepest = 0
    quoted = escaped = False
    bare: list[str] = []  # the text outside quoted strings
    for ch in text:
        if quoted:
            escaped, quoted = (False, True) if escaped else (ch == "\\", ch != '"')
            continue
        if ch == '"':
            quoted = True
            bare.append(" ")
            continue
        bare.append(ch)
        if ch in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]":
            depth -= 1
    return deepest, len(_LOGICAL.findall("".join(bare)))


def parse_filter(text: str, *, lenient: bool = False) -> Node:
    """Parse a SCIM filter into our AST; raise InvalidFilter naming what is wrong."""
    if not text or not text.strip():
        raise InvalidFilter("the filter is empty")
    depth, joins = _shape(text)
    if depth > MAX_FILTER_DEPTH:
        raise InvalidFilter(f"the filter nests deeper than {MAX_FILTER_DEPTH} levels")
    if joins >= MAX_FILTER_TERMS:
        raise InvalidFilter(f"the filter joins more than {MAX_FILTER_TERMS} comparisons")
    source = quote_bare_values(text) if lenient else text
    try:
        tree = SCIMParser().parse(_Lexer().tokenize(source))
    except (SCIMParserError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InvalidFilter(f"invalid filter {text!r}: {_describe(exc)}") from None
    if tree is None:
        raise InvalidFilter(f"invalid filter {text!r}: it ends too early")
    return _convert(tree)


def _describe(exc: Exception) -> str:
    msg = str(exc)
    if msg.endswith("at: None"):
        return "it ends too early"
    m = re.search(r"value=(\S+?), lineno", msg)
    if m:
        return f"unexpected {m.group(1)}"
    return msg or type(exc).__name__


def _convert(node: Any) -> Node:
    if isinstance(node, lib_ast.Filter):
        if node.namespace is not None:
            return ValuePath(_attr_ref(node.namespace, allow_sub=False), _convert(node.expr))
        inner = _convert(node.expr)
        return Not(inner) if node.negated else inner
    if isinstance(node, lib_ast.LogExpr):
        operands: list[Node] = []
        ops: list[str] = []
        _flatten_chain(node, operands, ops)
        return _rebuild_with_precedence(operands, ops)
    if isinstance(node, lib_ast.AttrExpr):
        return _attr_expr(node)
    raise InvalidFilter(f"unsupported filter element {type(node).__name__}")


def _flatten_chain(node: Any, operands: list[Node], ops: list[str]) -> None:
    """Collect an ungrouped and/or chain in source order (the library parsed it left-assoc)."""
    for i, child in enumerate((node.expr1, node.expr2)):
        if i == 1:
            ops.append(node.op.lower())
        if (
            isinstance(child, lib_ast.Filter)
            and child.namespace is None
            and not child.negated
            and isinstance(child.expr, lib_ast.LogExpr)
        ):
            _flatten_chain(child.expr, operands, ops)
        else:
            operands.append(_convert(child))


def _rebuild_with_precedence(operands: list[Node], ops: list[str]) -> Node:
    # RFC 7644 §3.4.2.2: "and" takes precedence over "or".
    disjuncts: list[Node] = []
    current = operands[0]
    for op, operand in zip(ops, operands[1:], strict=True):
        if op == "and":
            current = And(current, operand)
        else:
            disjuncts.append(current)
            current = operand
    disjuncts.append(current)
    result = disjuncts[0]
    for d in disjuncts[1:]:
        result = Or(result, d)
    return result


def _attr_expr(node: Any) -> Node:
    op = str(node.value).lower()
    value = None if node.comp_value is None else node.comp_value.value
    path = node.attr_path
    if isinstance(path.attr_name, lib_ast.Filter):
        # Microsoft's `emails[type eq "work"].value eq "x"`: the parser moved `.value` onto the
        # namespace; it means "some email has type work and value x".
        vp = path.attr_name
        ns = vp.namespace
        parent = AttrRef(str(ns.attr_name), None, ns.uri)
        sub = ns.sub_attr.value if ns.sub_attr is not None else None
        if sub is None:
            raise InvalidFilter("a value filter must be followed by .subAttribute here")
        return ValuePath(parent, And(_convert(vp.expr), Compare(AttrRef(sub), op, value)))
    return Compare(_attr_ref(path), op, value)


def _attr_ref(path: Any, *, allow_sub: bool = True) -> AttrRef:
    sub = path.sub_attr.value if path.sub_attr is not None else None
    if sub is not None and not allow_sub:
        raise InvalidFilter("a value filter applies to an attribute, not a sub-attribute")
    return AttrRef(str(path.attr_name), sub, path.uri)


_PATH_HEAD = re.compile(r"^\s*([A-Za-z$][\w$-]*)(?:\.([A-Za-z$][\w$-]*))?\s*$")
_PATH_SUB = re.compile(r"^\.([A-Za-z$][\w$-]*)$")

#: Schema URNs a path may be prefixed with (RFC 7644 §3.10).
DEFAULT_SCHEMA_URNS = (
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User",
    "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:Group",
)


def parse_path(text: str, *, schema_urns: Iterable[str] = DEFAULT_SCHEMA_URNS) -> Path:
    """Parse a PATCH path; raise InvalidPath naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidPath("the path is empty")
    raw = text.strip()
    urn: str | None = None
    bracket = raw.find("[")
    head_end = bracket if bracket >= 0 else len(raw)
    if raw[:4].lower() == "urn:":
        known = {u.lower(): u for u in schema_urns}
        whole = raw[:head_end]
        if whole.lower() in known and bracket < 0:
            return Path(attr=None, urn=known[whole.lower()])
        prefix, sep, _rest = whole.rpartition(":")
        if not sep:
            raise InvalidPath(f"invalid path {text!r}")
        # The attribute follows the last ':'; a known URN keeps its canonical spelling.
        urn = known.get(prefix.lower(), prefix)
        raw = raw[len(prefix) + 1 :]
        bracket = raw.find("[")
        head_end = bracket if bracket >= 0 else len(raw)
    if bracket < 0:
        m = _PATH_HEAD.match(raw)
        if not m:
            raise InvalidPath(f"invalid path {text!r}")
        return Path(attr=m.group(1), sub_attr=m.group(2), urn=urn)
    close = _matching_bracket(raw, bracket)
    if close < 0:
        raise InvalidPath(f"invalid path {text!r}: unbalanced '['")
    head = _PATH_HEAD.match(raw[:bracket])
    if not head or head.group(2):
        raise InvalidPath(f"invalid path {text!r}")
    try:
        inner = parse_filter(raw[bracket + 1 : close], lenient=True)
    except InvalidFilter as exc:
        raise InvalidPath(f"invalid path {text!r}: {exc.detail}") from None
    tail = raw[close + 1 :].strip()
    sub = None
    if tail:
        m = _PATH_SUB.match(tail)
        if not m:
            raise InvalidPath(f"invalid path {text!r}: unexpected {tail!r}")
        sub = m.group(1)
    return Path(attr=head.group(1), sub_attr=sub, urn=urn, filter=inner)


def _matching_bracket(text: str, start: int) -> int:
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _end_of_string(text, i)
            continue
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


# --- in-memory evaluation --------------------------------------------------------------------

#: Attributes whose string values compare case-sensitively (RFC 7643 caseExact: true).
DEFAULT_CASE_EXACT = frozenset({"id", "externalid", "meta.version", "members.value", "$ref"})

CaseExact = Callable[[str], bool]


def default_case_exact(dotted_lower: str) -> bool:
    """Return whether an attribute (``attr`` or ``attr.sub``, lower case) is caseExact."""
    return dotted_lower in DEFAULT_CASE_EXACT or dotted_lower.endswith(".$ref")


def matches(
    node: Node, resource: Mapping[str, Any], *, case_exact: CaseExact | None = None
) -> bool:
    """Evaluate a filter against a resource dict (attribute names compared case-insensitively)."""
    return _eval(node, resource, case_exact or default_case_exact, prefix="")


def _eval(node: Node, obj: Mapping[str, Any], case_exact: CaseExact, prefix: str) -> bool:
    if isinstance(node, And):
        return _eval(node.left, obj, case_exact, prefix) and _eval(
            node.right, obj, case_exact, prefix
        )
    if isinstance(node, Or):
        return _eval(node.left, obj, case_exact, prefix) or _eval(
            node.right, obj, case_exact, prefix
        )
    if isinstance(node, Not):
        return not _eval(node.expr, obj, case_exact, prefix)
    if isinstance(node, ValuePath):
        elements = _get(_scope(obj, node.attr.urn), node.attr.attr)
        if elements is None:
            return False
        items = elements if isinstance(elements, list) else [elements]
        inner_prefix = f"{prefix}{node.attr.attr.lower()}."
        return any(
            isinstance(e, Mapping) and _eval(node.filter, e, case_exact, inner_prefix)
            for e in items
        )
    values = _values(obj, node.attr)
    dotted = prefix + node.attr.dotted().lower()
    if node.op == "pr":
        return any(not _is_empty(v) for v in values)
    exact = case_exact(dotted)
    return any(compare(v, node.op, node.value, case_exact=exact) for v in values)


def _scope(obj: Mapping[str, Any], urn: str | None) -> Mapping[str, Any]:
    if urn is None or urn.lower() in {u.lower() for u in DEFAULT_SCHEMA_URNS[:2]}:
        return obj
    ext = _get(obj, urn)
    return ext if isinstance(ext, Mapping) else {}


def _get(obj: Mapping[str, Any], name: str) -> Any:
    if name in obj:
        return obj[name]
    lower = name.lower()
    for key, value in obj.items():
        if key.lower() == lower:
            return value
    return None


def _values(obj: Mapping[str, Any], ref: AttrRef) -> list[Any]:
    """Return every value an attribute reference reaches (flattening multi-valued attributes)."""
    top = _get(_scope(obj, ref.urn), ref.attr)
    if top is None and ref.urn is None:
        # RFC 7644 §3.10: an unqualified name may belong to an extension (Entra's `manager`).
        for key, ext in obj.items():
            if key[:4].lower() == "urn:" and isinstance(ext, Mapping):
                top = _get(ext, ref.attr)
                if top is not None:
                    break
    if top is None:
        return []
    items = top if isinstance(top, list) else [top]
    out: list[Any] = []
    for item in items:
        if ref.sub_attr is not None:
            if isinstance(item, Mapping):
                v = _get(item, ref.sub_attr)
                if v is not None:
                    out.extend(v if isinstance(v, list) else [v])
        elif isinstance(item, Mapping):
            # RFC 7644 §3.4.2.2: a complex multi-valued attribute compares its "value".
            v = _get(item, "value")
            if v is not None:
                out.append(v)
        else:
            out.append(item)
    return out


def _is_empty(value: Any) -> bool:
    return value is None or value in ("", [], {})


def compare(actual: Any, op: str, expected: Literal, *, case_exact: bool) -> bool:
    """Compare one stored value with a filter literal under RFC 7644 §3.4.2.2 rules."""
    if op == "pr":
        return not _is_empty(actual)
    if isinstance(actual, bool) or isinstance(expected, bool):
        if op not in ("eq", "ne"):
            return False
        result = _as_bool(actual) == _as_bool(expected)
        return result if op == "eq" else not result
    if expected is None:
        return (actual is None) if op == "eq" else (actual is not None if op == "ne" else False)
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return _order(actual, op, expected)
    if isinstance(actual, str) and isinstance(expected, str):
        da, de = parse_datetime(actual), parse_datetime(expected)
        if da is not None and de is not None:
            return _order(da, op, de)
        a, e = (actual, expected) if case_exact else (actual.lower(), expected.lower())
        if op == "co":
            return e in a
        if op == "sw":
            return a.startswith(e)
        if op == "ew":
            return a.endswith(e)
        return _order(a, op, e)
    if isinstance(actual, str) and isinstance(expected, int | float):
        try:
            return _order(float(actual), op, expected)
        except ValueError:
            return op == "ne"
    return op == "ne"


def _as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


def _order(a: Any, op: str, b: Any) -> bool:
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if op == "gt":
        return bool(a > b)
    if op == "ge":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    if op == "le":
        return bool(a <= b)
    return False


_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def parse_datetime(text: str) -> datetime | None:
    """Parse an xsd:dateTime (RFC 7643 §2.3.5) into an aware datetime, or return None."""
    if not _DATETIME.match(text):
        return None
    t = text.strip().replace("t", "T")
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    # Python accepts at most 6 fractional digits; .NET sends 7.
    t = re.sub(r"(\.\d{6})\d+", r"\1", t)
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return dt

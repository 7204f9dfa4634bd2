"""List and search requests (RFC 7644 §3.4.2, §3.4.3): parameters in, ListResponse out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scim_bridge.errors import BadRequest, InvalidFilter, InvalidValue
from scim_bridge.scim.filters import AttrRef, Compare, Node, parse_filter
from scim_bridge.scim.schema import LIST_RESPONSE


@dataclass(frozen=True)
class ListQuery:
    """A parsed list/search request: filter, sort, page and attribute selection."""

    filter: Node | None = None
    filter_text: str | None = None
    sort_by: AttrRef | None = None
    descending: bool = False
    start_index: int = 1
    count: int = 100
    attributes: tuple[str, ...] = field(default_factory=tuple)
    excluded: tuple[str, ...] = field(default_factory=tuple)


def equality_lookup(query: ListQuery, attr: str, core_urn: str) -> str | None:
    """Return X when the filter is exactly ``attr eq "X"`` (a core attribute, any case) and no
    sort is asked: the IdPs' existence check, answered by one unique-index lookup."""
    node = query.filter
    if (
        query.sort_by is not None
        or not isinstance(node, Compare)
        or node.op != "eq"
        or not isinstance(node.value, str)
        or node.attr.sub_attr is not None
        or node.attr.attr.lower() != attr.lower()
        or (node.attr.urn is not None and node.attr.urn.lower() != core_urn.lower())
    ):
        return None
    return node.value


#: The largest startIndex passed on to the database. A larger one (10**30 is valid JSON and a
#: valid query parameter) overflows SQL's 64-bit OFFSET; no directory holds this many
#: resources, so the page it asks for is empty either way. A 32-bit integer also fits every
#: IdP client that reads the startIndex echoed back.
MAX_START_INDEX = 2**31 - 1

#: The longest filter accepted unless the settings say otherwise (max_filter_chars).
DEFAULT_MAX_FILTER_CHARS = 8192


def _int_param(name: str, raw: Any) -> int:
    """Read an integer query parameter or SearchRequest member (RFC 7644 §3.4.2.4)."""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # 1e30 is a JSON number with no fraction: an integer, if a big one
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidValue(f"{name} must be an integer, got {_shown(raw)}")
    try:
        return int(raw)
    except ValueError:  # also more than 4,300 digits (Python's int_max_str_digits)
        raise InvalidValue(f"{name} must be an integer, got {_shown(raw)}") from None


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _names(raw: Any) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    return tuple(str(i).strip() for i in items if str(i).strip())


def _get(params: Mapping[str, Any], name: str) -> Any:
    # Query parameter names are matched case-insensitively; clients differ (startindex …).
    if name in params:
        return params[name]
    low = name.lower()
    for key in params:
        if key.lower() == low:
            return params[key]
    return None


def parse_list_query(
    params: Mapping[str, Any],
    *,
    default_count: int,
    max_results: int,
    lenient: bool = True,
    max_filter_chars: int = DEFAULT_MAX_FILTER_CHARS,
) -> ListQuery:
    """Build a ListQuery from query parameters or a SearchRequest body (RFC 7644 §3.4.3)."""
    text = _get(params, "filter")
    if text not in (None, "") and len(str(text)) > max_filter_chars:
        # Real filters are a few hundred characters; a longer one only costs memory and SQL.
        raise InvalidFilter(
            f"the filter is {len(str(text)):,} characters long; "
            f"this server accepts at most {max_filter_chars:,} characters"
        )
    node = parse_filter(str(text), lenient=lenient) if text not in (None, "") else None
    sort_by = None
    raw_sort = _get(params, "sortBy")
    if raw_sort not in (None, ""):
        sort_path = parse_filter(f"{raw_sort} pr")
        if not hasattr(sort_path, "attr"):
            raise BadRequest(f"sortBy must name an attribute, got {raw_sort!r}")
        sort_by = sort_path.attr
    order = _get(params, "sortOrder")
    if order not in (None, "") and str(order).lower() not in ("ascending", "descending"):
        raise InvalidValue(f"sortOrder must be ascending or descending, got {order!r}")
    raw_start = _get(params, "startIndex")
    # RFC 7644 §3.4.2.4: a startIndex below 1 is interpreted as 1, a negative count as 0.
    start = _int_param("startIndex", raw_start) if raw_start not in (None, "") else 1
    start = min(max(1, start), MAX_START_INDEX)
    raw_count = _get(params, "count")
    count = default_count if raw_count in (None, "") else _int_param("count", raw_count)
    count = min(max(0, count), max_results)
    return ListQuery(
        filter=node,
        filter_text=None if text in (None, "") else str(text),
        sort_by=sort_by,
        descending=str(order or "").lower() == "descending",
        start_index=start,
        count=count,
        attributes=_names(_get(params, "attributes")),
        excluded=_names(_get(params, "excludedAttributes")),
    )


def list_response(
    resources: Sequence[Mapping[str, Any]], *, total: int, start_index: int
) -> dict[str, Any]:
    """Render a ListResponse; counts are JSON integers (Okta checks that)."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": list(resources),
    }

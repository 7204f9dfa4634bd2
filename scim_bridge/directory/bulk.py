"""Bulk requests (RFC 7644 §3.7) and the root search across resource types (§3.4.3)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from scim_bridge.directory import audit, groups, passwords, users
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.queries import PageHints, list_page
from scim_bridge.directory.rows import Context
from scim_bridge.errors import (
    InvalidFilter,
    InvalidSyntax,
    InvalidValue,
    PayloadTooLarge,
    ScimError,
)
from scim_bridge.scim import bulk_plan
from scim_bridge.scim.etags import etag
from scim_bridge.scim.listing import ListQuery
from scim_bridge.scim.schema import BULK_REQUEST, BULK_RESPONSE, ERROR

_BULK_REF = re.compile(r"^bulkId:(.+)$")
_PATH = re.compile(r"^/?(users|groups)(?:/([^/?#]+))?/?$", re.IGNORECASE)
_PATH_REF = re.compile(r"^(/?(?:users|groups)/)bulkId:([^/?#]+)/?$", re.IGNORECASE)


def _on_cursor(service: Callable[..., Any]) -> Callable[..., Any]:
    """Adapt a User service (which takes a Cursor) to the Session each operation runs in."""
    return lambda session, *args, **kwargs: service(Cursor.of(session), *args, **kwargs)


_SERVICES: dict[str, dict[str, Callable[..., Any]]] = {
    "Users": {
        "POST": _on_cursor(users.create_user),
        "PUT": _on_cursor(users.replace_user),
        "PATCH": _on_cursor(users.patch_user),
        "DELETE": _on_cursor(users.delete_user),
    },
    "Groups": {
        "POST": groups.create_group,
        "PUT": groups.replace_group,
        "PATCH": groups.patch_group,
        "DELETE": groups.delete_group,
    },
}


class _Unresolved(Exception):
    def __init__(self, bulk_id: str) -> None:
        super().__init__(bulk_id)
        self.bulk_id = bulk_id


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        m = _BULK_REF.match(value)
        return {m.group(1)} if m else set()
    if isinstance(value, Mapping):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _substitute(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        m = _BULK_REF.match(value)
        if not m:
            return value
        if m.group(1) not in ids:
            raise _Unresolved(m.group(1))
        return ids[m.group(1)]
    if isinstance(value, Mapping):
        return {k: _substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    return value


def _error(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body


def process(
    body: Mapping[str, Any],
    ctx: Context,
    *,
    run: Callable[[Callable[[Session], Any]], Any],
    max_operations: int,
    base_url: str,
    strict_schemas: bool = False,
) -> dict[str, Any]:
    """Run a BulkRequest; each operation is its own transaction, run through ``run``."""
    if strict_schemas and BULK_REQUEST not in (body.get("schemas") or []):
        raise InvalidSyntax(f"a bulk request must carry the schema {BULK_REQUEST}")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntax("a bulk request needs a non-empty Operations list")
    if len(operations) > max_operations:
        # RFC 7644 §3.7.4: more operations than maxOperations is a 413.
        raise PayloadTooLarge(
            f"the request has {len(operations)} operations; maxOperations is {max_operations}"
        )
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (not isinstance(fail_on_errors, int) or fail_on_errors < 1):
        raise InvalidValue("failOnErrors must be a positive integer")

    # Each operation is audited as a write of its own, marked as coming through Bulk.
    ctx = replace(ctx, via="Bulk")
    results: dict[int, dict[str, Any]] = {}
    ids: dict[str, str] = {}
    errors = 0
    # RFC 7644 §3.7.2: an operation may reference what a POST of the same request creates; it
    # runs after that POST. The order is worked out once, before anything runs.
    steps = bulk_plan.plan(
        [_declared(op) for op in operations], [_op_references(op) for op in operations]
    )
    for step in steps:
        if fail_on_errors and errors >= fail_on_errors:
            break  # RFC 7644 §3.7.3: stop once failOnErrors errors have happened
        op = operations[step.index]
        if step.refusal is not None:
            refusal = step.refusal
            result = _outcome(op, refusal.status, refusal.detail, refusal.scim_type)
        else:
            result = _run_one(op, ctx, run=run, ids=ids, base_url=base_url)
        results[step.index] = result
        if int(result["status"]) >= 400:
            errors += 1
            _record_refusal(op, result, ctx, run=run)
    return {"schemas": [BULK_RESPONSE], "Operations": [results[i] for i in sorted(results)]}


def _record_refusal(
    op: Any,
    result: Mapping[str, Any],
    ctx: Context,
    *,
    run: Callable[[Callable[[Session], Any]], Any],
) -> None:
    """Audit a failed operation in a transaction of its own (its own rolled back)."""
    status = int(result["status"])
    if status >= 500 or not ctx.audit:
        return  # no transaction opened for a record that would not be written
    op = op if isinstance(op, Mapping) else {}
    m = _PATH.match(str(op.get("path", "")))
    resource_type = ("User" if m.group(1).lower() == "users" else "Group") if m else "Bulk"
    response = result.get("response") or {}
    run(
        lambda s: audit.record_refusal(
            Cursor.of(s),
            ctx,
            resource_type=resource_type,
            resource_id=m.group(2) if m else None,
            operation=str(op.get("method", "?")).upper()[:16],
            status=status,
            scim_type=response.get("scimType"),
            message=str(response.get("detail", "")),
        )
    )


def _declared(op: Any) -> str | None:
    """Return the bulkId a POST declares (RFC 7644 §3.7: REQUIRED for POST), if any."""
    if not isinstance(op, Mapping) or str(op.get("method", "")).upper() != "POST":
        return None
    bulk_id = op.get("bulkId")
    return bulk_id if isinstance(bulk_id, str) and bulk_id else None


def _op_references(op: Any) -> set[str]:
    """Return the bulkIds an operation references, in its data or its path."""
    if not isinstance(op, Mapping):
        return set()
    refs = _references(op.get("data"))
    path = op.get("path")
    m = _PATH_REF.match(path) if isinstance(path, str) else None
    if m:
        refs.add(m.group(2))
    return refs


def _substitute_path(path: str, ids: Mapping[str, str]) -> str:
    """Replace a ``bulkId:X`` resource id in a path (``/Groups/bulkId:X``) by X's id."""
    m = _PATH_REF.match(path)
    if m is None:
        return path
    if m.group(2) not in ids:
        raise _Unresolved(m.group(2))
    return m.group(1) + ids[m.group(2)]


def _outcome(op: Any, status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"status": str(status), "response": _error(status, detail, scim_type)}
    if isinstance(op, Mapping):
        out["method"] = str(op.get("method", "")).upper()
        if op.get("bulkId") and isinstance(op["bulkId"], str):
            out["bulkId"] = op["bulkId"]
    return out


def _run_one(
    op: Any,
    ctx: Context,
    *,
    run: Callable[[Callable[[Session], Any]], Any],
    ids: dict[str, str],
    base_url: str,
) -> dict[str, Any]:
    if not isinstance(op, Mapping):
        return _outcome(op, 400, "each operation must be a JSON object", "invalidSyntax")
    method = str(op.get("method", "")).upper()
    bulk_id = op.get("bulkId")
    if bulk_id is not None and not isinstance(bulk_id, str):
        return _outcome(op, 400, "bulkId must be a string (RFC 7644 §3.7)", "invalidSyntax")
    if op.get("version") is not None and not isinstance(op["version"], str):
        return _outcome(op, 400, "version must be an ETag string (RFC 7644 §3.7)", "invalidSyntax")
    try:
        path = _substitute_path(str(op.get("path", "")), ids)
        data = _substitute(op.get("data"), ids)
    except _Unresolved as exc:
        # RFC 7644 §3.7.1 answers 409 for references that cannot be resolved; §3.12 has no
        # scimType for a 409 but uniqueness.
        detail = (
            f"bulkId {exc.bulk_id} created no resource: no POST of this request declares it, "
            "or its POST failed (RFC 7644 §3.7.2)"
        )
        return _outcome(op, 409, detail)
    m = _PATH.match(path)
    if method not in ("POST", "PUT", "PATCH", "DELETE"):
        return _outcome(op, 400, f"unsupported bulk method {method!r}", "invalidSyntax")
    if m is None:
        return _outcome(op, 400, f"unsupported bulk path {path!r}", "invalidPath")
    endpoint = "Users" if m.group(1).lower() == "users" else "Groups"
    resource_id = m.group(2)
    if method == "POST" and (resource_id or not bulk_id):
        return _outcome(op, 400, "POST needs a bulkId and a path like /Users", "invalidSyntax")
    if method != "POST" and not resource_id:
        return _outcome(op, 400, f"{method} needs a path like /{endpoint}/<id>", "invalidPath")
    if method in ("POST", "PUT", "PATCH") and not isinstance(data, Mapping):
        return _outcome(op, 400, f"{method} needs a data object", "invalidSyntax")
    service = _SERVICES[endpoint][method]
    if endpoint == "Users" and method != "DELETE":
        ctx = passwords.prepare(data, ctx)  # hash passwords before the operation's transaction
    version = op.get("version")
    # Each operation is a SCIM request of its own: a failure rolls back only that operation.
    try:
        if method == "POST":
            row = run(lambda s: service(s, data, ctx))
        elif method == "DELETE":
            run(lambda s: service(s, resource_id, ctx, if_match=version))
            row = None
        else:
            row = run(lambda s: service(s, resource_id, data, ctx, if_match=version))
    except ScimError as exc:
        return _outcome(op, exc.status, exc.detail, exc.scim_type)
    out: dict[str, Any] = {"method": method}
    if bulk_id:
        out["bulkId"] = bulk_id
    if row is None:
        out["status"] = "204"
        return out
    if method == "POST" and bulk_id:
        ids[str(bulk_id)] = row.id
    out["location"] = f"{base_url}/{endpoint}/{row.id}"
    out["version"] = etag(row.version)
    out["status"] = "201" if method == "POST" else "200"
    return out


def search_all(
    session: Session, query: ListQuery, *, scope: str | None, hints: PageHints | None = None
) -> tuple[int, list[tuple[str, list[Any]]]]:
    """Search the Users then the Groups ``scope`` sees as one list (root /.search); page
    across both."""
    totals: dict[str, int] = {}
    last_error: InvalidFilter | None = None
    for kind in ("User", "Group"):
        try:
            totals[kind] = list_page(session, kind, replace(query, count=0), scope=scope)[0]
        except InvalidFilter as exc:
            # An attribute one type lacks simply matches nothing of that type.
            last_error = exc
    if not totals and last_error is not None:
        raise last_error
    pages: list[tuple[str, list[Any]]] = []
    offset, remaining = query.start_index - 1, query.count
    for kind, total in totals.items():
        if remaining <= 0:
            break
        if offset >= total:
            offset -= total
            continue
        take = min(remaining, total - offset)
        page = replace(query, start_index=offset + 1, count=take)
        _, rows = list_page(session, kind, page, scope=scope)
        pages.append((f"{kind}s", rows))
        remaining -= len(rows)
        offset = 0
    return sum(totals.values()), pages

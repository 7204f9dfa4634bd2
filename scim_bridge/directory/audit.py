"""The SCIM audit trail, writing side: one record per SCIM write, in the write's transaction.

Writers only insert: a record leaves here unchained (no ``seq`` or hash), so concurrent SCIM
writes never wait for one another to extend a chain. The sequencer (``monitor/audit_chain.py``)
chains the committed records later, in id order, under one lock (docs/audit.md).

What is recorded: who (the token's name and IdP, never the token), when, from where (request
id, client address), what (resource type, id, operation, status), and for a successful write
the field-level diff, before -> after, with secrets redacted: ``password`` and every attribute
the schemas mark ``returned: never`` or ``mutability: writeOnly`` (RFC 7643 §7).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, insert

from scim_bridge.directory.models import AuditRecord
from scim_bridge.directory.prepared import Cursor, Prepared
from scim_bridge.directory.rows import Context
from scim_bridge.scim.schema import registry

#: The ``idp`` of a record that is not an IdP's request: DingTalk's side of a sync
#: (sync/dingtalk_audit.py), and the bridge's own acts, e.g. an erasure (monitor/erasure.py).
#: Parenthesised: never a token's IdP label.
DINGTALK_SIDE, BRIDGE_SIDE = "(dingtalk)", "(bridge)"
#: What a secret's value is replaced by, before and after alike.
REDACTED = "[redacted]"
#: The longest error detail kept in a refused write's record.
MAX_ERROR_DETAIL = 500


#: One encoder for every record: ``json.dumps`` with options builds a new JSONEncoder per call,
#: which cost a SCIM write more than the encoding itself (bench/instructions.py).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)


def canonical(value: Any) -> str:
    """Return the canonical JSON text of a value: sorted keys, no spaces, UTF-8 kept."""
    return _CANONICAL.encode(value)


@functools.cache
def secret_names() -> frozenset[str]:
    """Return the lower-case names of attributes whose values never enter the trail."""
    names = {"password"}
    for schema in registry().schemas.values():
        stack = list(schema.attributes.values())
        while stack:
            attr = stack.pop()
            # RFC 7643 §7: "never" returned, or "writeOnly": the server must not disclose it.
            if attr.returned == "never" or attr.mutability == "writeOnly":
                names.add(attr.name.lower())
            stack.extend(attr.sub_attributes.values())
    return frozenset(names)


def redact(value: Any) -> Any:
    """Return a copy of a value with every secret attribute's value replaced."""
    secrets = secret_names()
    if isinstance(value, Mapping):
        return {k: REDACTED if str(k).lower() in secrets else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the changed attributes as ``{name: [before, after]}`` (None when absent);
    an extension (its URN, RFC 7643 §3.3) is compared attribute by attribute, as
    ``<urn>:<attribute>``. Secrets are redacted."""
    old, new = before or {}, after or {}
    out: dict[str, Any] = {}
    secrets = secret_names()
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key.startswith("urn:") and isinstance(a or {}, Mapping) and isinstance(b or {}, Mapping):
            for sub, change in diff(a or {}, b or {}).items():
                out[f"{key}:{sub}"] = change
        elif key.lower() in secrets:
            out[key] = [REDACTED if a is not None else None, REDACTED if b is not None else None]
        else:
            out[key] = [a, b]
    # A secret nested deeper (a sub-attribute) is redacted by record_values, where the JSON text
    # is made anyway.
    return out


@functools.cache
def _secret_keys() -> tuple[str, ...]:
    return tuple(f'"{name}":' for name in secret_names())


def _redacted_text(detail: Mapping[str, Any]) -> str:
    """Return the canonical JSON of a record's detail with every secret redacted. Every write
    builds one, and a secret is rarely in it: it is looked for in the text (one C-level scan
    per name) before anything is copied."""
    text = canonical(detail)
    lowered = text.lower()
    if any(key in lowered for key in _secret_keys()):
        # The diff's own top level names attributes (already redacted by diff): inside.
        text = canonical(
            {
                key: {k: redact(v) for k, v in value.items()}
                if key == "changes" and isinstance(value, Mapping)
                else redact(value)
                for key, value in detail.items()
            }
        )
    return text


#: What a writer fills in; the sequencer adds seq, prev_hash and hash (monitor/audit_chain.py).
RECORD_COLUMNS = (
    "at",
    "actor",
    "idp",
    "request_id",
    "client",
    "resource_type",
    "resource_id",
    "operation",
    "status",
    "detail",
)
#: Runs in every write request, so prepared (see prepared.py), as the outbox upsert is.
_INSERT = Prepared(insert(AuditRecord).values({c: bindparam(c) for c in RECORD_COLUMNS}))


def insert_records(cur: Cursor, records: Sequence[Mapping[str, Any]]) -> None:
    """Append records (``RECORD_COLUMNS`` each, built by the caller) in one call."""
    _INSERT.execute_many(cur, records)


def insert_record(cur: Cursor, record: Mapping[str, Any] | None) -> None:
    """Append one record (``record_values``) in the cursor's transaction; None: nothing."""
    if record is not None:
        _INSERT.execute(cur, **record)


def record_values(
    ctx: Context,
    *,
    resource_type: str,
    resource_id: str | None,
    operation: str,
    status: int,
    detail: Mapping[str, Any],
) -> dict[str, Any] | None:
    """Return one audit record's columns (``insert_records``), or None when the trail is off.
    A writer can build it before its transaction takes the writer's turn."""
    if not ctx.audit:
        return None
    if ctx.via:
        detail = {**detail, "via": ctx.via}
    return dict(
        at=ctx.now,
        actor=ctx.actor[:128],
        idp=ctx.principal.idp[:128],
        request_id=(ctx.request_id or "-")[:128],
        client=ctx.client[:64] if ctx.client else None,
        resource_type=resource_type,
        resource_id=resource_id[:300] if resource_id else None,
        operation=operation,
        status=status,
        detail=_redacted_text(detail),
    )


def record_change(
    cur: Cursor,
    ctx: Context,
    *,
    resource_type: str,
    resource_id: str,
    operation: str,
    status: int,
    changes: Mapping[str, Any],
) -> None:
    """Append the record of a successful write with its (already redacted) diff."""
    record = record_values(
        ctx,
        resource_type=resource_type,
        resource_id=resource_id,
        operation=operation,
        status=status,
        detail={"changes": dict(changes)},
    )
    insert_record(cur, record)


def record_refusal(
    cur: Cursor,
    ctx: Context,
    *,
    resource_type: str,
    resource_id: str | None,
    operation: str,
    status: int,
    scim_type: str | None,
    message: str,
) -> None:
    """Append the record of a refused write (4xx): why, without a diff."""
    error = {"status": status, "scimType": scim_type, "detail": message[:MAX_ERROR_DETAIL]}
    record = record_values(
        ctx,
        resource_type=resource_type,
        resource_id=resource_id,
        operation=operation,
        status=status,
        detail={"error": error},
    )
    insert_record(cur, record)

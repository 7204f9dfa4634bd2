"""SQLAlchemy models of the directory: users, groups, memberships, tokens and the outbox.

Each resource keeps its canonical SCIM document in ``data`` (JSON); the columns beside it are
derived from that document on every write and exist so that filters, sorting and uniqueness
run in the database over indexes. Multi-valued attributes (emails, phoneNumbers, …) get one
row per element in ``user_values`` so a filter like ``emails[type eq "work"]`` is one indexed
EXISTS, and group membership is one row per member so a PATCH touches only what changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so migrations are reviewable and identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base with the naming convention and JSON type mapping."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONDoc}  # noqa: RUF012 (SQLAlchemy reads it)


class ResourceColumns:
    """What every SCIM resource row carries: who created it, its version and timestamps."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The IdP (token) that created the resource: only that IdP's tokens (and shared ones) see
    # it. externalId is scoped to it but not unique (RFC 7643 §3.1; docs/security.md).
    idp: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_modified: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_by: Mapped[str | None] = mapped_column(String(128))
    modified_by: Mapped[str | None] = mapped_column(String(128))


class User(ResourceColumns, Base):
    """A SCIM User; ``data`` is the canonical document without id, meta, groups and password."""

    __tablename__ = "users"

    user_name: Mapped[str] = mapped_column(String(256))
    # RFC 7643 §4.1.1: userName is caseExact false; the lowered copy carries the unique index.
    user_name_key: Mapped[str] = mapped_column(String(256), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(256))
    display_name_key: Mapped[str | None] = mapped_column(String(256), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    # Enterprise manager.value: indexed so "who reports to X" is a lookup, not a JSON scan.
    manager_id: Mapped[str | None] = mapped_column(String(256), index=True)

    __table_args__ = (
        Index("ix_users_idp_external_id", "idp", "external_id"),
        Index("ix_users_created_id", "created", "id"),
    )


class UserValue(Base):
    """One element of a multi-valued complex User attribute (emails, phoneNumbers, …)."""

    __tablename__ = "user_values"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    attr: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    value: Mapped[str | None] = mapped_column(Text)
    value_key: Mapped[str | None] = mapped_column(String(512))
    type_key: Mapped[str | None] = mapped_column(String(64))
    primary: Mapped[bool] = mapped_column(Boolean, default=False)
    element: Mapped[dict[str, Any]]

    __table_args__ = (
        Index("ix_user_values_attr_value_key", "attr", "value_key"),
        Index("ix_user_values_user_id", "user_id"),
    )


class Group(ResourceColumns, Base):
    """A SCIM Group; members live in ``group_members``, not in ``data``."""

    __tablename__ = "groups"

    display_name: Mapped[str] = mapped_column(String(256))
    # Entra matches groups by displayName case-insensitively; keep it unique that way.
    display_name_key: Mapped[str] = mapped_column(String(256), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (
        Index("ix_groups_idp_external_id", "idp", "external_id"),
        Index("ix_groups_created_id", "created", "id"),
    )


class GroupMember(Base):
    """One direct member (a User or a Group) of a Group."""

    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    member_type: Mapped[str] = mapped_column(String(8))

    __table_args__ = (Index("ix_group_members_member_id", "member_id"),)


class Token(Base):
    """A bearer token an IdP authenticates with; only its SHA-256 hash is stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(16), default="auto")
    idp: Mapped[str] = mapped_column(String(128))
    # Shared: sees and writes every IdP's resources (a migration or an admin tool).
    shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    read_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # After `token rotate`, the replaced value keeps working until previous_expires_at.
    previous_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Per-token rate limits (issue 14; `token limit`): None follows the settings' defaults.
    # rate_per_second 0 means no rate limit for this token; max_concurrent 0 no cap.
    rate_per_second: Mapped[float | None] = mapped_column(Float)
    rate_burst: Mapped[int | None] = mapped_column(Integer)
    max_concurrent: Mapped[int | None] = mapped_column(Integer)


class OutboxEntry(Base):
    """ "This resource changed": written in the same transaction as the change (design.md).

    One row per resource, not per event: the translator is level-triggered, so a new change
    bumps ``seq`` and ``changed_at``; the worker deletes the row only if ``seq`` is still the
    one it processed. Lease columns let several workers share the table safely.
    ``first_changed_at`` is the first change not yet applied: a bump keeps it, so the sync lag
    (SCIM commit -> DingTalk acknowledged) is measured from the change that waited longest.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer, default=1)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Indexed: /metrics reads the oldest one at every scrape (min over an index, not a scan).
    first_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str | None] = mapped_column(String(128))
    available_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Issue 14, priority lanes (directory/outbox.py Lane): 0 leavers, 1 changes, 2 creations
    # and repairs. One index serves the claim (lanes in order) and the per-lane gauges (count
    # and oldest from the index alone, at every scrape).
    lane: Mapped[int] = mapped_column(Integer, default=2, server_default="2")

    __table_args__ = (
        UniqueConstraint("resource_type", "resource_id"),
        Index("ix_outbox_lane_first_changed_at", "lane", "first_changed_at"),
        # The claim's order (sync/claims.py): it reads the first due rows off this index.
        Index("ix_outbox_claim_order", "lane", "resource_type", "available_at", "id"),
    )


class Link(Base):
    """A SCIM user, or a department key of the mapping, linked to its DingTalk object.

    ``snapshot`` is the desired state last applied successfully: the translator diffs the new
    desired state against it and sends only what changed (design.md, level-triggered).
    """

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # user | department
    key: Mapped[str] = mapped_column(String(300))  # SCIM user id, or the department key
    dingtalk_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # pending|synced|retrying|failed|removed
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    last_error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("kind", "key"),
        Index("ix_links_kind_dingtalk_id", "kind", "dingtalk_id"),
        # One DingTalk person is never held by two live links: that would let one IdP record
        # overwrite, then delete, another person's account. A removed link keeps its userid
        # (a reactivated person comes back with it), so it does not count.
        Index(
            "uq_links_live_user_dingtalk_id",
            "dingtalk_id",
            unique=True,
            sqlite_where=text("kind = 'user' AND state <> 'removed' AND dingtalk_id IS NOT NULL"),
            postgresql_where=text(
                "kind = 'user' AND state <> 'removed' AND dingtalk_id IS NOT NULL"
            ),
        ),
    )


class DeadLetter(Base):
    """A change that could not be projected: the reason in plain words, until retried."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(64))
    # What DingTalk itself said (its errmsg), kept beside our plain-words reason.
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("resource_type", "resource_id"),)


class BridgeState(Base):
    """Small named values the bridge keeps between runs (e.g. an operator's guard confirmation)."""

    __tablename__ = "bridge_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GuardRemoval(Base):
    """A removal the translator proposed, counted by the mass-change guard for its window."""

    __tablename__ = "guard_removals"

    scim_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditRecord(Base):
    """One SCIM write (or refused write): who, when, from where, on what, and what changed.

    Writers only insert (``seq``, ``prev_hash`` and ``hash`` empty), so concurrent writes never
    wait for each other; the sequencer (``directory/audit.py``) chains them later, in id
    order, under one lock (docs/audit.md). ``detail`` is canonical JSON text, not a JSON
    column: the hash covers its exact bytes, which JSONB would reorder.
    """

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(128))  # the token's name, never the token
    idp: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str] = mapped_column(String(128))
    client: Mapped[str | None] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str | None] = mapped_column(String(300))
    operation: Mapped[str] = mapped_column(String(16))  # POST | PUT | PATCH | DELETE
    status: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
    # Filled by the sequencer: position in the chain, the previous record's hash, this one's.
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of ``detail``, which the chain hashes instead of ``detail`` itself, so an erased
    # payload still verifies (migration 0010; NULL: chained before it, ``detail`` is hashed).
    detail_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_records_resource", "resource_type", "resource_id"),
        # audit history: the DingTalk-side records that served one person's SCIM requests.
        # Those only (migration 0017): a SCIM write adds no entry, so its commit writes one
        # page fewer. "(dingtalk)" is directory/audit.py's DINGTALK_SIDE.
        Index(
            "ix_audit_records_request_id",
            "request_id",
            sqlite_where=text("idp = '(dingtalk)'"),
            postgresql_where=text("idp = '(dingtalk)'"),
        ),
    )


class AuditCheckpoint(Base):
    """The chain head at one moment: a record at ``seq`` with ``hash`` existed then."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DingTalkEvent(Base):
    """A DingTalk contact-change push, stored by the callback endpoint, drained by the worker.

    Only stored here (a web request never calls DingTalk, design.md); the worker's event job
    queues a targeted reconcile of the ids and sets ``processed_at`` and ``outcome`` (a failed
    repair is released for the next run, ``attempts`` counting, up to the job's limit). ``nonce``
    and ``signed_at`` are unique together so a replayed push is refused; ``event_id`` is unique
    so DingTalk's own retry of a push we accepted (after 10 s, 30 s) is not stored twice.
    """

    __tablename__ = "dingtalk_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_type: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    user_ids: Mapped[list[str]] = mapped_column(JSONDoc)
    dept_ids: Mapped[list[int]] = mapped_column(JSONDoc)
    nonce: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[str] = mapped_column(String(20))  # the push's timeStamp, as sent
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    # Failed repairs so far: the event is taken again by the next run until the job's limit.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (UniqueConstraint("nonce", "signed_at"),)


class ReconcileRun(Base):
    """One reconcile (issue 10): what it compared, its drift by kind, the contact accuracy.

    A run with no ``finished_at`` whose lease has not expired holds the reconcile lock: a second
    reconcile, in any process, does not start (sync/reconcile_lock.py).
    """

    __tablename__ = "reconcile_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    holder: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    mode: Mapped[str] = mapped_column(String(16))  # full | incremental | targeted
    trigger: Mapped[str] = mapped_column(String(16))  # cli | schedule | event
    applied: Mapped[bool] = mapped_column(Boolean)
    compared: Mapped[int] = mapped_column(Integer)
    accuracy_percent: Mapped[float | None] = mapped_column(Float)
    drift: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)  # {kind: count}
    calls_estimated: Mapped[int] = mapped_column(Integer)
    calls_made: Mapped[int] = mapped_column(Integer)
    # Incremental mode: the last department id of the rotating slice this run read.
    slice_cursor: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


# --- availability of DingTalk, measured by our own calls (issue 12, monitor/availability.py) ---


class AvailabilityMinute(Base):
    """One UTC minute of DingTalk calls, by how each ended; several processes add into it.

    ``down`` is the verdict of the policy in force when the counts were added (more than
    ``sla_down_ratio`` of the minute's calls failed DingTalk-side): failures we cause
    (``rejected``, ``throttled``, ``banned``) are counted apart and never make a minute down.
    """

    __tablename__ = "availability_minutes"

    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    transient: Mapped[int] = mapped_column(Integer, default=0)  # 5xx, timeouts, system busy
    rejected: Mapped[int] = mapped_column(Integer, default=0)  # our 4xx, permanent, auth
    throttled: Mapped[int] = mapped_column(Integer, default=0)  # our QPS (88/90018, 9000x)
    banned: Mapped[int] = mapped_column(Integer, default=0)  # the per-IP ban we earned
    probe_ok: Mapped[int] = mapped_column(Integer, default=0)
    probe_failed: Mapped[int] = mapped_column(Integer, default=0)  # DingTalk-side
    probe_refused: Mapped[int] = mapped_column(Integer, default=0)  # ours (credentials, ban)
    down: Mapped[bool] = mapped_column(Boolean, default=False)


class AvailabilityFailure(Base):
    """DingTalk-side failures of one minute by API and code, for the incidents' "seen" lists."""

    __tablename__ = "availability_failures"

    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    api: Mapped[str] = mapped_column(String(128), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class AvailabilityFlush(Base):
    """A batch of counts already added: a retried flush of the same batch adds nothing."""

    __tablename__ = "availability_flushes"

    batch_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    flushed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Incident(Base):
    """A run of down minutes: opened and closed by monitor/incidents.py, never by hand."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # None while open; else the first minute DingTalk answered again.
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    down_minutes: Mapped[int] = mapped_column(Integer, default=0)
    apis: Mapped[dict[str, Any]]  # {"seen": [api, ...]}
    errcodes: Mapped[dict[str, Any]]  # {"seen": [code, ...]}


class MaintenanceWindow(Base):
    """A declared maintenance window: its minutes count neither as up nor as down."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(16))  # "cli" | "settings"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SyncLagMinute(Base):
    """Changes projected in one UTC minute by sync lag, as histogram buckets (the SLA report).

    ``le`` is the bucket's upper bound in seconds (monitor/metrics.py LAG_BUCKETS; the last,
    1e9, stands for +Inf); ``count`` the changes acknowledged by DingTalk that minute whose lag
    (first unapplied SCIM commit -> acknowledgement) fell in it and no lower bucket.
    """

    __tablename__ = "sync_lag_minutes"

    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    le: Mapped[float] = mapped_column(Float, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class ErasureReceipt(Base):
    """One erasure of a person (GDPR, PDPO): who asked, when, what went, and DingTalk's answer.

    It keeps the SCIM id and the DingTalk userid only: identifiers that prove what was erased,
    not the person's data (issue 11, docs/audit.md).
    """

    __tablename__ = "erasure_receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    scim_id: Mapped[str] = mapped_column(String(36), index=True)
    dingtalk_userid: Mapped[str | None] = mapped_column(String(64))
    removed: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    # Filled when the translator reports the person removed from DingTalk.
    dingtalk_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dingtalk_answer: Mapped[str | None] = mapped_column(Text)


# --- Alerts (issue 12, alerts) ------------------------------------------------------------------


class Alert(Base):
    """One alert episode: a stable key, its rule and severity, from firing to resolved.

    At most one row per key is open (``status`` firing); a resolved row stays as history and a
    new episode of the same key is a new row. The clocks (``clear_since``, ``calm_since``) are
    the hold-down of monitor/alert_rules.py, kept here so every worker process agrees on them.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(128))
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))  # warning | critical | escalation
    status: Mapped[str] = mapped_column(String(16))  # firing | resolved
    summary: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict[str, Any]]
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    announced: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_key: Mapped[str | None] = mapped_column(String(128))
    clear_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    calm_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_alerts_status_key", "status", "key"),)


class AlertDelivery(Base):
    """One announcement of an alert to one channel, and how its attempts went.

    ``payload`` is the notice as sent (notify.message.Notice.as_json); ``error`` is the channel's
    own words, which never carry a secret or a webhook's query string.
    """

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))  # firing | resolved
    payload: Mapped[dict[str, Any]]
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16))  # pending | sent | failed | abandoned
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_alert_deliveries_outcome_next", "outcome", "next_attempt_at"),)


# --- admin console (issue 13) -----------------------------------------------------------------


class AdminUser(Base):
    """A person who may sign in to /admin: an admin acts, a viewer only sees.

    Only an scrypt hash of the password is stored (directory/admins.py gives its parameters),
    with a salt of its own, in the hash's text: ``scrypt$n$r$p$salt_hex$hash_hex``.
    """

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | viewer
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    """One refused console sign-in, counted per account and per address by the throttle.

    Kept in the database, not in memory, so that every API process (gunicorn forks several)
    sees the same count: a guesser spreading attempts over processes gains nothing.
    """

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    account: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)


class ConsoleAction(Base):
    """An operator's request from the console ("sync now", "retry", "drop", "apply").

    A web request never calls DingTalk (design.md): it inserts this row, and the worker
    carries it out and fills in ``done_at`` and ``outcome``; the page polls for them.
    """

    __tablename__ = "console_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # sync_now | retry | drop | apply
    target: Mapped[str] = mapped_column(String(300))  # a resource id, a group key, or "all"
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)


class TokenRateState(Base):
    """The shared rate-limit state of one SCIM token (issue 14, directory/rate_limits.py).

    GCRA needs one number per token: the theoretical arrival time (``tat``, seconds since the
    epoch) of its next request. On PostgreSQL the table is UNLOGGED (migration 0014): losing it
    in a crash only forgets who was close to their limit, and its writes skip the WAL flush.
    """

    __tablename__ = "token_rate_state"

    token_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tokens.id", ondelete="CASCADE"), primary_key=True
    )
    tat: Mapped[float] = mapped_column(Float)


class JobTick(Base):
    """One tick of a scheduled singleton job, claimed by the one process that runs it (issue 14).

    Every worker schedules every job; the first to insert (job, tick) runs that tick, the
    others find the row and skip it, whatever host they are on (sync/singleton_jobs.py).
    The row stays as the record of who ran it, when, and how it ended.
    """

    __tablename__ = "job_ticks"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The start of the tick (the scheduled instant the run belongs to), UTC.
    tick: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: "ok", or the exception's class name when the job's body raised.
    outcome: Mapped[str | None] = mapped_column(String(64))

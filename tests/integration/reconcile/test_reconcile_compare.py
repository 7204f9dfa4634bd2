"""The pure comparison: literal data in, drift out (no database, no DingTalk).

It lives beside the integration tests because it belongs to reconcile; it needs neither.
"""

from __future__ import annotations

from typing import Any

from scim_bridge.mapping.model import UPSERT, DepartmentSpec, Projection, UserProjection
from scim_bridge.sync.plan import CurrentState
from scim_bridge.sync.reconcile_compare import Known, Scope, compare

FIELDS = {"name": "Alice", "mobile": "13900000001", "title": "Rep", "hide_mobile": False}


def alice(**fields: Any) -> UserProjection:
    return UserProjection(
        scim_id="u1",
        action=UPSERT,
        userid="alice",
        fields={**FIELDS, **fields},
        department_keys=("group:g1",),
        manager_scim_id=None,
        role_keys=(),
        link_by=(),
        warnings=(),
    )


SALES = DepartmentSpec("group:g1", "Sales", None, "group:g1")
DESIRED = Projection(
    departments={"group:g1": SALES},
    users={"u1": alice()},
    roles={},
    managed_fields=frozenset({"name", "mobile", "title", "hide_mobile", "remark"}),
)
LIVE_DEPT = {"name": "Sales", "parent_id": 1, "source_identifier": "group:g1", "order": None}


def current(**person: Any) -> CurrentState:
    record = {"userid": "alice", **FIELDS, "dept_id_list": [7], "manager_userid": None, **person}
    return CurrentState(
        users={"alice": record},
        departments={7: dict(LIVE_DEPT)},
        dept_links={"group:g1": 7},
        user_links={"u1": "alice"},
    )


def snapshot(**fields: Any) -> dict[str, Any]:
    return {**FIELDS, "dept_id_list": [7], "manager_userid": None, **fields}


def test_values_dingtalk_omits_or_spells_differently_are_not_drift() -> None:
    # hide_mobile False omitted, remark "" omitted (managed, empty), ids as text: all equal.
    record = {k: v for k, v in current().users["alice"].items() if k != "hide_mobile"}
    state = CurrentState(
        users={"alice": {**record, "dept_id_list": ["7"]}},
        departments={7: dict(LIVE_DEPT)},
        dept_links={"group:g1": "7"},  # type: ignore[dict-item]
        user_links={"u1": "alice"},
    )
    result = compare(DESIRED, state, Known())
    assert result.drift == ()
    assert (result.compared, result.accuracy_percent) == (1, 100.0)


def test_an_edit_in_dingtalk_is_out_of_band_and_an_idp_edit_is_pending() -> None:
    edited = compare(DESIRED, current(title="Boss"), Known(user_snapshots={"u1": snapshot()})).drift
    assert [(d.kind, d.fields, d.cause) for d in edited] == [
        ("user_field", ("title",), "out_of_band")
    ]
    # The IdP changed the title; DingTalk still holds what was applied: not DingTalk's fault.
    wanted = Projection(
        departments=DESIRED.departments,
        users={"u1": alice(title="Lead")},
        roles={},
        managed_fields=DESIRED.managed_fields,
    )
    pending = compare(wanted, current(), Known(user_snapshots={"u1": snapshot()})).drift
    assert [(d.kind, d.cause) for d in pending] == [("user_field", "idp_change_pending")]
    queued = Known(user_snapshots={"u1": snapshot()}, pending=frozenset({("User", "u1")}))
    assert [d.cause for d in compare(wanted, current(), queued).drift] == ["bridge_lag"]


def test_a_scope_limits_what_is_judged() -> None:
    state = current(title="Boss")
    state.users["bob"] = {"userid": "bob", "name": "Bob", "dept_id_list": [1]}  # type: ignore[index]
    outside = Scope(users=frozenset(), departments=frozenset())
    result = compare(DESIRED, state, Known(), scope=outside)
    assert (result.drift, result.compared) == ((), 0)
    everything = compare(DESIRED, state, Known())
    assert {(d.kind, d.dingtalk_id) for d in everything.drift} == {
        ("user_field", "alice"),
        ("user_orphan", "bob"),
    }
    assert everything.accuracy_percent == 0.0

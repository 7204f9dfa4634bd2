"""Department endpoints: dingtalk-api.md §4 (create, update, delete, get, list, parents)."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from scim_bridge.dingtalk.emulator.state import ROOT_DEPT_ID, Directory, dept_defaults
from scim_bridge.dingtalk.emulator.wire import OapiError, Params

_ILLEGAL_NAME_CHARS = ("-", ",", "，")  # dingtalk-api.md §4.1
_FLAGS = (
    "hide_dept",
    "outer_dept",
    "outer_dept_only_self",
    "create_dept_group",
    "auto_add_user",
    "auto_approve_apply",
    "group_contain_sub_dept",
    "group_contain_outer_dept",
    "group_contain_hidden_dept",
)


def _dept(d: Directory, p: Params, *, bad_id_code: int = 40035) -> dict[str, Any]:
    dept_id = p.integer("dept_id", required=True, code=bad_id_code)
    if dept_id not in d.depts:
        raise OapiError(60003, "部门不存在")
    return d.depts[dept_id]


def _name(p: Params, *, required: bool) -> str | None:
    if not p.sent("name"):
        if required:
            raise OapiError(40035, "缺少参数 name")
        return None
    name = p.string("name", code=60001)
    assert name is not None
    if not 1 <= len(name) <= 64 or not name.strip():
        raise OapiError(60001, "部门名称不合法，长度为1~64个字符")
    if any(ch in name for ch in _ILLEGAL_NAME_CHARS):
        raise OapiError(60009, "部门名称含有非法字符")
    return name


def _check_name_free(
    d: Directory, name: str, parent_id: int, *, dept_id: int | None, clash_code: int
) -> None:
    for sibling in d.children(parent_id):
        if sibling["name"] == name and sibling["dept_id"] != dept_id:
            # dingtalk-api.md §4.1 UNCERTAIN: 60008 (legacy/EKP) or 60021 (current table);
            # EmulatorConfig.dept_name_clash_code picks which, 60008 by default.
            raise OapiError(clash_code, "父部门下该部门名称已存在")


def _apply_common(d: Directory, p: Params, dept: dict[str, Any], *, visibility_code: int) -> None:
    """Validate and write the optional fields shared by create and update (§4.1, §4.2)."""
    order = p.integer("order", code=40011)
    if order is not None:
        dept["order"] = order
    for field, limit in (("source_identifier", 256), ("brief", 255), ("telephone", 50)):
        value = p.string(field, max_len=limit)
        if value is not None:
            dept[field] = value
    for flag in _FLAGS:
        enabled = p.boolean(flag)
        if enabled is not None:
            dept[flag] = enabled
    if dept["create_dept_group"] and not dept["dept_group_chat_id"]:
        dept["dept_group_chat_id"] = "chat" + secrets.token_hex(12)
    # dingtalk-api.md §4.1/§4.2: each visibility pair is capped at 50 in total.
    for ids_field, users_field in (
        ("dept_permits", "user_permits"),
        ("outer_permit_depts", "outer_permit_users"),
    ):
        ids = p.id_list(ids_field, code=visibility_code)
        userids = p.str_list(users_field, code=visibility_code)
        new_ids = dept[ids_field] if ids is None else ids
        new_users = dept[users_field] if userids is None else userids
        if len(new_ids) + len(new_users) > 50:
            raise OapiError(visibility_code, "可见范围列表超过50个")
        dept[ids_field] = list(new_ids)
        dept[users_field] = list(new_users)


def create(d: Directory, p: Params, now: float, *, clash_code: int) -> dict[str, Any]:
    """Create a department: POST /topapi/v2/department/create (dingtalk-api.md §4.1)."""
    name = _name(p, required=True)
    parent_id = p.integer("parent_id", required=True, code=40010)
    assert name is not None and parent_id is not None
    if parent_id not in d.depts:
        raise OapiError(60004, "父部门不存在")
    _check_name_free(d, name, parent_id, dept_id=None, clash_code=clash_code)
    dept = dept_defaults() | {"name": name, "parent_id": parent_id, "create_time": int(now * 1000)}
    _apply_common(d, p, dept, visibility_code=600109)
    dept["dept_id"] = d.new_dept_id()
    d.depts[dept["dept_id"]] = dept
    return {"result": {"dept_id": dept["dept_id"]}}


def update(d: Directory, p: Params, now: float, *, clash_code: int) -> dict[str, Any]:
    """Change only the fields sent: POST /topapi/v2/department/update (dingtalk-api.md §4.2)."""
    current = _dept_for_write(d, p, root_code=60018, root_msg="根部门不允许更新")
    dept = copy.deepcopy(current)  # validate everything before changing anything
    name = _name(p, required=False)
    parent_id = p.integer("parent_id", code=40010)
    if parent_id is not None and parent_id != dept["parent_id"]:
        if parent_id not in d.depts:
            raise OapiError(60004, "父部门不存在")
        if parent_id in d.subtree(dept["dept_id"]):
            raise OapiError(60010, "部门之间存在循环关系")
        dept["parent_id"] = parent_id
    if name is not None:
        dept["name"] = name
    if name is not None or parent_id is not None:
        _check_name_free(
            d, dept["name"], dept["parent_id"], dept_id=dept["dept_id"], clash_code=clash_code
        )
    _apply_common(d, p, dept, visibility_code=60109)
    _apply_managers(d, p, dept)
    owner = p.string("org_dept_owner", max_len=64, code=40093)
    if owner is not None:
        if owner not in d.users or dept["dept_id"] not in d.users[owner]["dept_id_list"]:
            raise OapiError(40093, "不合法的群主")  # §4.2: the owner must be a member
        dept["org_dept_owner"] = owner
    code = p.string("code", max_len=30)
    if code is not None:
        dept["code"] = code
    d.depts[dept["dept_id"]] = dept
    return {}


def _apply_managers(d: Directory, p: Params, dept: dict[str, Any]) -> None:
    managers = p.str_list("dept_manager_userid_list", code=40031)
    forced = p.str_list("force_update_fields") or []
    if managers is not None:
        for userid in managers:
            user = d.users.get(userid)
            # dingtalk-api.md §4.2: every manager must already be a member of the department.
            if user is None or dept["dept_id"] not in user["dept_id_list"]:
                raise OapiError(40031, f"不合法的userid列表: {userid}")
        dept["dept_manager_userid_list"] = managers
    elif "dept_manager_userid_list" in forced:
        dept["dept_manager_userid_list"] = []  # §4.2: the documented way to clear managers


def _dept_for_write(d: Directory, p: Params, *, root_code: int, root_msg: str) -> dict[str, Any]:
    dept_id = p.integer("dept_id", required=True, code=40009)
    if dept_id == ROOT_DEPT_ID:
        raise OapiError(root_code, root_msg)
    if dept_id not in d.depts:
        raise OapiError(60003, "部门不存在")
    return d.depts[dept_id]


def delete(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Delete an empty leaf department: POST /topapi/v2/department/delete (§4.3)."""
    dept = _dept_for_write(d, p, root_code=60007, root_msg="根部门不允许删除")
    # dingtalk-api.md §4.3: members anywhere below → 60005, checked before sub-departments (60006).
    if d.member_count(dept["dept_id"]):
        raise OapiError(60005, "部门或子部门下存在员工")
    if d.children(dept["dept_id"]):
        raise OapiError(60006, "部门下存在子部门")
    del d.depts[dept["dept_id"]]
    return {}


def get(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Read one department with member counts: POST /topapi/v2/department/get (§4.4)."""
    dept = _dept(d, p)
    dept_id = dept["dept_id"]
    result: dict[str, Any] = {
        "dept_id": dept_id,
        "name": dept["name"],
        "source_identifier": dept["source_identifier"],
        "create_dept_group": dept["create_dept_group"],
        "auto_add_user": dept["auto_add_user"],
        "from_union_org": dept["from_union_org"],
        "tags": dept["tags"],
        "order": dept["order"],
        "group_contain_sub_dept": dept["group_contain_sub_dept"],
        "dept_manager_userid_list": list(dept["dept_manager_userid_list"]),
        "outer_dept": dept["outer_dept"],
        "outer_permit_depts": list(dept["outer_permit_depts"]),
        "outer_permit_users": list(dept["outer_permit_users"]),
        "hide_dept": dept["hide_dept"],
        "user_permits": list(dept["user_permits"]),
        "dept_permits": list(dept["dept_permits"]),
        "auto_approve_apply": dept["auto_approve_apply"],
        "member_count": d.member_count(dept_id),
        "owning_member_count": len(d.direct_members(dept_id)),
    }
    if dept_id != ROOT_DEPT_ID:
        result["parent_id"] = dept["parent_id"]
    for key in ("dept_group_chat_id", "org_dept_owner", "code", "brief", "telephone"):
        if dept[key]:
            result[key] = dept[key]
    return {"result": result}


def listsub(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """List one level of sub-departments: POST /topapi/v2/department/listsub (§4.4)."""
    dept_id = p.integer("dept_id")
    dept_id = ROOT_DEPT_ID if dept_id is None else dept_id
    if dept_id not in d.depts:
        raise OapiError(60003, "部门不存在")
    return {
        "result": [
            {
                "dept_id": child["dept_id"],
                "name": child["name"],
                "parent_id": child["parent_id"],
                "create_dept_group": child["create_dept_group"],
                "auto_add_user": child["auto_add_user"],
            }
            for child in d.children(dept_id)
        ]
    }


def listsubid(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """List one level of sub-department ids: POST /topapi/v2/department/listsubid (§4.4)."""
    dept = _dept(d, p)
    return {"result": {"dept_id_list": [c["dept_id"] for c in d.children(dept["dept_id"])]}}


def listparentbydept(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """List [self, parent, …, 1]: POST /topapi/v2/department/listparentbydept (§4.4)."""
    dept = _dept(d, p)
    return {"result": {"parent_id_list": d.ancestry(dept["dept_id"])}}

"""Role and role-group endpoints: dingtalk-api.md §5.

The legacy paths (/role/add_role_group, /role/add_role, /role/update_role) answer with top-level
fields (``groupId``, ``roleId``); /topapi/role/getrole and getrolegroup answer ``role`` and
``role_group`` at the top level, as their doc pages show.
"""

from __future__ import annotations

from typing import Any

from scim_bridge.dingtalk.emulator.state import Directory
from scim_bridge.dingtalk.emulator.wire import OapiError, Params

MAX_ROLES_PER_CALL = 20
MAX_USERS_ADD = 20  # dingtalk-api.md §5: addrolesforemps takes ≤ 20 users
MAX_USERS_REMOVE = 100  # removerolesforemps takes ≤ 100


def _role(d: Directory, role_id: int | None) -> dict[str, Any]:
    if role_id is None or role_id not in d.roles:
        raise OapiError(33011, "无效的roleId")
    return d.roles[role_id]


def _editable(role: dict[str, Any]) -> None:
    if role["system"]:
        # dingtalk-api.md §5: roles of the built-in "默认" group can't be changed (23004).
        raise OapiError(23004, "不允许编辑系统标签")


def add_role_group(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Create a role group: POST /role/add_role_group → top-level groupId (§5)."""
    # Emulator choice: no code is documented for a duplicate group name, so duplicates are allowed.
    name = p.string("name", required=True, max_len=64)
    group_id = d.new_role_id()
    d.role_groups[group_id] = {"group_id": group_id, "name": name, "system": False}
    return {"groupId": group_id}


def add_role(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Create a role in a group: POST /role/add_role → top-level roleId (§5)."""
    if not p.sent("roleName") or not p.sent("groupId"):
        raise OapiError(34018, "角色不能为空")
    name = p.string("roleName", max_len=64, code=34018)
    group_id = p.integer("groupId", code=34020)
    group = d.role_groups.get(group_id or 0)
    if group is None or group["system"]:
        raise OapiError(34020, "无效的groupId")
    if any(r["group_id"] == group_id and r["name"] == name for r in d.roles.values()):
        raise OapiError(34021, "角色名称已存在")
    role_id = d.new_role_id()
    d.roles[role_id] = {
        "role_id": role_id,
        "name": name,
        "group_id": group_id,
        "system": False,
        "userids": [],
    }
    return {"roleId": role_id}


def update_role(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Rename a role: POST /role/update_role (§5)."""
    role = _role(d, p.integer("roleId", code=33011))
    if not p.sent("roleName"):
        raise OapiError(660000, "角色名称不能为空")
    name = p.string("roleName", max_len=64, code=660000)
    _editable(role)
    for other in d.roles.values():
        if other["group_id"] == role["group_id"] and other["name"] == name and other is not role:
            raise OapiError(34021, "角色名称已存在")
    role["name"] = name
    return {}


def deleterole(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Delete a role: POST /topapi/role/deleterole (§5)."""
    role = _role(d, p.integer("role_id", required=True, code=33011))
    _editable(role)
    # Emulator choice: the doc asks callers to remove the role from its users first but lists no
    # error code for it, so the emulator detaches the remaining holders and deletes.
    del d.roles[role["role_id"]]
    return {}


def _assignment(d: Directory, p: Params, *, max_users: int) -> tuple[list[Any], list[str]]:
    role_ids = p.id_list("roleIds", code=33011)
    userids = p.str_list("userIds", code=33012)
    if role_ids is None:
        raise OapiError(40035, "缺少参数 roleIds")
    if userids is None:
        raise OapiError(40035, "缺少参数 userIds")
    if len(role_ids) > MAX_ROLES_PER_CALL:
        raise OapiError(40035, f"roleIds 最多 {MAX_ROLES_PER_CALL} 个")
    if len(userids) > max_users:
        raise OapiError(40035, f"userIds 最多 {max_users} 个")
    roles = [_role(d, role_id) for role_id in role_ids]
    for role in roles:
        _editable(role)  # §5: system-group roles are not allowed here
    for userid in userids:
        if userid not in d.users:
            raise OapiError(33012, f"无效的userid {userid}")
    return roles, userids


def addrolesforemps(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Give users roles: POST /topapi/role/addrolesforemps (≤ 20 roles, ≤ 20 users; §5)."""
    roles, userids = _assignment(d, p, max_users=MAX_USERS_ADD)
    for role in roles:
        for userid in userids:
            if userid not in role["userids"]:
                role["userids"].append(userid)
    return {}


def removerolesforemps(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Take roles away: POST /topapi/role/removerolesforemps (≤ 20 roles, ≤ 100 users; §5)."""
    roles, userids = _assignment(d, p, max_users=MAX_USERS_REMOVE)
    for role in roles:
        role["userids"] = [u for u in role["userids"] if u not in userids]
    return {}


def _offset_size(p: Params, *, default: int, maximum: int) -> tuple[int, int]:
    size = p.integer("size", code=40069)
    offset = p.integer("offset", code=40068)
    size = default if size is None else size
    offset = 0 if offset is None else offset
    if not 1 <= size <= maximum:
        raise OapiError(40069, "非法的size")
    if offset < 0:
        raise OapiError(40068, "无效的偏移量")
    return offset, size


def list_roles(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Page role groups with their roles: POST /topapi/role/list (size ≤ 200; §5)."""
    offset, size = _offset_size(p, default=20, maximum=200)
    groups = sorted(d.role_groups.values(), key=lambda g: g["group_id"])
    page = groups[offset : offset + size]
    rows = [
        {
            "groupId": g["group_id"],
            "name": g["name"],
            "roles": [
                {"id": r["role_id"], "name": r["name"]}
                for r in sorted(d.roles.values(), key=lambda r: r["role_id"])
                if r["group_id"] == g["group_id"]
            ],
        }
        for g in page
    ]
    return {"result": {"hasMore": offset + size < len(groups), "list": rows}}


def simplelist(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Page a role's holders: POST /topapi/role/simplelist (size ≤ 100; §5)."""
    role = _role(d, p.integer("role_id", required=True, code=33011))
    offset, size = _offset_size(p, default=20, maximum=100)
    holders = [d.users[u] for u in role["userids"] if u in d.users]
    page = holders[offset : offset + size]
    rows = [{"userid": u["userid"], "name": u["name"], "manageScopes": []} for u in page]
    return {"result": {"hasMore": offset + size < len(holders), "list": rows}}


def getrole(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Read a role: POST /topapi/role/getrole → top-level ``role`` (§5)."""
    role = _role(d, p.integer("roleId", required=True, code=33011))
    return {"role": {"name": role["name"], "groupId": role["group_id"]}}


def getrolegroup(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Read a role group: POST /topapi/role/getrolegroup → top-level ``role_group`` (§5)."""
    group_id = p.integer("group_id", required=True, code=400002)
    group = d.role_groups.get(group_id or 0)
    if group is None:
        raise OapiError(400002, "无效的参数")  # the getrolegroup doc lists 400002
    roles = [
        r for r in sorted(d.roles.values(), key=lambda r: r["role_id"]) if r["group_id"] == group_id
    ]
    return {
        "role_group": {
            "group_name": group["name"],
            "roles": [{"role_id": r["role_id"], "role_name": r["name"]} for r in roles],
        }
    }

"""User endpoints: dingtalk-api.md §3 (create, update, delete, get, list, lookups).

Each handler takes the directory, the call's parameters and the clock reading, changes or reads
the directory, and returns the top-level fields of the oapi success envelope.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from scim_bridge.dingtalk.emulator.state import Directory, parse_mobile, user_defaults
from scim_bridge.dingtalk.emulator.wire import OapiError, Params

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ORDER_FIELDS = ("entry_asc", "entry_desc", "modify_asc", "modify_desc", "custom")
MAX_CURSOR = 100_000  # dingtalk-api.md §3.5
MAX_PAGE = 100

# Fields omitted from user/get and user/list when empty (dingtalk-api.md §3.4).
_OMIT_WHEN_EMPTY = ("avatar", "manager_userid", "work_place", "remark", "org_email")


def _ms(now: float) -> int:
    return int(now * 1000)


def _user(d: Directory, userid: str | None, *, code: int = 60121) -> dict[str, Any]:
    if userid is None or userid not in d.users:
        # dingtalk-api.md §3.2–§3.4: the observed not-found code is 60121 (FIELD).
        raise OapiError(code, "找不到该用户")
    return d.users[userid]


def _check_depts(d: Directory, dept_ids: list[int], *, limit: int) -> None:
    if not dept_ids:
        raise OapiError(40066, "不合法的部门列表")
    if len(dept_ids) > limit:
        # dingtalk-api.md §3.1/§3.2: ≤100 on create, ≤300 on update (SDK checkMaxListSize).
        raise OapiError(60110, f"部门个数超过限制 {limit}")
    for dept_id in dept_ids:
        if dept_id not in d.depts:
            # Emulator choice: a missing department answers 60003 (not 40066), so the bridge
            # can say "create the department first" in plain words.
            raise OapiError(60003, f"部门不存在 {dept_id}")


def _unique(
    d: Directory, field: str, value: str, *, userid: str | None, code: int, msg: str
) -> None:
    for other in d.users.values():
        if other["userid"] != userid and value and other[field] == value:
            raise OapiError(code, msg)


def _apply_fields(
    d: Directory, p: Params, user: dict[str, Any], *, creating: bool, dept_limit: int
) -> None:
    """Validate the optional fields of create/update and write the ones that were sent (§3.1)."""
    userid = user["userid"]
    name = p.string("name", required=creating, max_len=80, code=60112)
    if name is not None:
        user["name"] = name

    mobile = p.string("mobile", required=creating, max_len=30, code=60103)
    if mobile is not None:
        parsed = parse_mobile(mobile)
        if parsed is None:
            raise OapiError(60103, "不合法的手机号")
        holder = d.user_by_mobile(mobile)
        if holder is not None and holder["userid"] != userid:
            raise OapiError(60104, "手机号码在公司中已存在")
        if not creating and user["active"] and parse_mobile(user["mobile"]) != parsed:
            # dingtalk-api.md §3.2 UNCERTAIN (40022 / 41054 / 40021): the emulator refuses a
            # number change for activated users with 41054 "delete and re-add".
            raise OapiError(41054, "该员工已激活，暂时不能修改手机号，请删除后重新添加")
        user["mobile"] = mobile
        user["state_code"] = parsed[0]

    dept_ids = p.id_list("dept_id_list", code=40066)
    if creating and dept_ids is None:
        raise OapiError(40035, "缺少参数 dept_id_list")
    if dept_ids is not None:
        _check_depts(d, dept_ids, limit=dept_limit)

    email = p.string("email", max_len=50, code=60105)
    if email is not None:
        if not _EMAIL.match(email):
            raise OapiError(60105, "不合法的邮箱")
        _unique(d, "email", email, userid=userid, code=60106, msg="邮箱已存在")
        user["email"] = email

    telephone = p.string("telephone", max_len=50)
    if telephone is not None:
        _unique(d, "telephone", telephone, userid=userid, code=40100, msg="分机号已经存在")
        user["telephone"] = telephone

    for field, limit, code in (
        ("title", 200, 60119),
        ("job_number", 50, 60123),
        ("work_place", 100, 40064),
        ("remark", 2000, 40065),
        ("org_email", 100, 40035),
        ("login_email", 64, 40035),
    ):
        value = p.string(field, max_len=limit, code=code)
        if value is not None:
            user[field] = value

    org_email_type = p.string("org_email_type")
    if org_email_type is not None:
        if org_email_type not in ("profession", "base"):
            raise OapiError(40035, "不合法的参数 org_email_type")
        user["org_email_type"] = org_email_type

    language = p.string("language")
    if language is not None:
        if language not in ("zh_CN", "en_US"):
            raise OapiError(40035, "不合法的参数 language")
        user["language"] = language

    for field, key in (("hide_mobile", "hide_mobile"), ("senior_mode", "senior_mode")):
        flag = p.boolean(field)
        if flag is not None:
            user[key] = flag

    hired_date = p.integer("hired_date")
    if hired_date is not None:
        if hired_date < 1:  # dingtalk-api.md §3.1: epoch milliseconds, ≥ 1
            raise OapiError(40035, "不合法的参数 hired_date")
        user["hired_date"] = hired_date

    _apply_extension(p, user)
    _apply_manager(d, p, user)

    if dept_ids is not None:
        user["dept_id_list"] = dept_ids
    orders = _dept_entries(p, "dept_order_list", "order", user["dept_id_list"])
    if orders is not None:
        user["dept_order_list"] = orders
    elif dept_ids is not None:
        user["dept_order_list"] = [
            o for o in user["dept_order_list"] if o["dept_id"] in user["dept_id_list"]
        ]
    titles = _dept_entries(p, "dept_title_list", "title", user["dept_id_list"])
    if titles is not None:
        user["dept_title_list"] = titles


def _apply_extension(p: Params, user: dict[str, Any]) -> None:
    # dingtalk-api.md §3.1/§3.2: JSON object text ≤ 2000 chars; replaces the map unless
    # ext_attrs_update_mode=1. Any key is accepted (console field definitions aren't modelled).
    if not p.sent("extension"):
        return
    raw = p.raw("extension")
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    if len(text) > 2000:
        raise OapiError(40063, "不合法的扩展属性: 超过2000个字符")
    try:
        value = json.loads(text)
    except ValueError:
        raise OapiError(40063, "不合法的扩展属性") from None
    if not isinstance(value, dict):
        raise OapiError(40063, "不合法的扩展属性")
    mode = p.integer("ext_attrs_update_mode") or 0
    if mode == 1:
        user["extension"] = {**user["extension"], **value}
    else:
        user["extension"] = value


def _apply_manager(d: Directory, p: Params, user: dict[str, Any]) -> None:
    forced = p.str_list("force_update_fields") or []
    manager = p.string("manager_userid", max_len=64, code=60128)
    if manager is not None:
        # Emulator choice (brief): an unknown manager, or the user themself, answers 60128.
        if manager not in d.users or manager == user["userid"]:
            raise OapiError(60128, "不合法的主管id")
        user["manager_userid"] = manager
    elif "manager_userid" in forced:
        # dingtalk-api.md §3.2: force_update_fields is the documented way to clear the manager.
        user["manager_userid"] = ""


def _dept_entries(
    p: Params, name: str, key: str, dept_ids: list[int]
) -> list[dict[str, Any]] | None:
    entries = p.object_list(name)
    if entries is None:
        return None
    if len(entries) > 100:  # dingtalk-api.md §3.1: ≤ 100 entries
        raise OapiError(40035, f"参数 {name} 超过100个")
    out: list[dict[str, Any]] = []
    for entry in entries:
        dept_id = entry.get("dept_id")
        value = entry.get(key)
        if not isinstance(dept_id, int) or value is None:
            raise OapiError(40035, f"不合法的参数 {name}")
        if key == "order" and not isinstance(value, int):
            raise OapiError(40011, "不合法的排序")
        if dept_id in dept_ids:
            out.append({"dept_id": dept_id, key: value})
    return out


def _drop_leaderships_outside(d: Directory, user: dict[str, Any]) -> None:
    """Remove the user as manager/owner of departments they no longer belong to (§4.2 rule)."""
    for dept in d.depts.values():
        if dept["dept_id"] in user["dept_id_list"]:
            continue
        if user["userid"] in dept["dept_manager_userid_list"]:
            dept["dept_manager_userid_list"].remove(user["userid"])
        if dept["org_dept_owner"] == user["userid"]:
            dept["org_dept_owner"] = ""


# --- handlers ----------------------------------------------------------------------------------


def create(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Create a user: POST /topapi/v2/user/create (dingtalk-api.md §3.1)."""
    userid = p.string("userid", max_len=64, code=40003)
    if userid is not None:
        if userid.strip() != userid or not userid:
            raise OapiError(40003, "不合法的UserID")
        if userid in d.users:
            raise OapiError(60102, "UserID在公司中已存在")
    user = user_defaults()
    user["userid"] = userid or ""
    _apply_fields(d, p, user, creating=True, dept_limit=100)
    if not user["userid"]:
        user["userid"] = d.new_userid()
    user["unionid"] = d.new_unionid(user["userid"])
    user["create_time"] = user["modify_time"] = _ms(now)
    d.users[user["userid"]] = user
    # dingtalk-api.md §3.1: camel-case unionId here; user/get says unionid.
    return {"result": {"userid": user["userid"], "unionId": user["unionid"]}}


def update(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Change only the fields sent: POST /topapi/v2/user/update (dingtalk-api.md §3.2)."""
    userid = p.string("userid", required=True, max_len=64, code=40003)
    user = _user(d, userid)
    staged = copy.deepcopy(user)  # validate everything before changing anything
    _apply_fields(d, p, staged, creating=False, dept_limit=300)
    staged["modify_time"] = _ms(now)
    d.users[user["userid"]] = staged
    _drop_leaderships_outside(d, staged)
    # dingtalk-api.md §3.2: success carries no result.
    return {}


def delete(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Remove a user and keep a leaver record: POST /topapi/v2/user/delete (§3.3, §6)."""
    userid = p.string("userid", required=True, max_len=64, code=40003)
    user = _user(d, userid)
    del d.users[user["userid"]]
    for dept in d.depts.values():
        if user["userid"] in dept["dept_manager_userid_list"]:
            dept["dept_manager_userid_list"].remove(user["userid"])
        if dept["org_dept_owner"] == user["userid"]:
            dept["org_dept_owner"] = ""
    for role in d.roles.values():
        if user["userid"] in role["userids"]:
            role["userids"].remove(user["userid"])
    for report in d.users.values():
        # Emulator choice: reports of a deleted manager lose their manager_userid.
        if report["manager_userid"] == user["userid"]:
            report["manager_userid"] = ""
    parsed = parse_mobile(user["mobile"])
    d.leave_records.append(
        {
            "userid": user["userid"],
            "name": user["name"],
            "state_code": user["state_code"],
            "mobile": parsed[1] if parsed else user["mobile"],
            "leave_time": now,
            "leave_reason": "oapi",  # dingtalk-api.md §6: deleted through the API
        }
    )
    return {}


def detail(d: Directory, user: dict[str, Any]) -> dict[str, Any]:
    """Render a user as POST /topapi/v2/user/get returns it (dingtalk-api.md §3.4)."""
    out: dict[str, Any] = {
        "userid": user["userid"],
        "unionid": user["unionid"],
        "name": user["name"],
        "avatar": user["avatar"],
        "state_code": user["state_code"],
        "manager_userid": user["manager_userid"],
        "mobile": user["mobile"],
        "hide_mobile": user["hide_mobile"],
        "telephone": user["telephone"],
        "job_number": user["job_number"],
        "title": user["title"],
        "email": user["email"],
        "work_place": user["work_place"],
        "remark": user["remark"],
        "exclusive_account": user["exclusive_account"],
        "org_email": user["org_email"],
        "dept_id_list": list(user["dept_id_list"]),
        "dept_order_list": [dict(o) for o in user["dept_order_list"]],
        "active": user["active"],
        "real_authed": user["real_authed"],
        "senior": user["senior_mode"],
        "admin": user["admin"],
        "boss": user["boss"],
        "leader_in_dept": [
            {
                "dept_id": dept_id,
                "leader": user["userid"]
                in d.depts.get(dept_id, {}).get("dept_manager_userid_list", []),
            }
            for dept_id in user["dept_id_list"]
        ],
        "role_list": [
            {"id": r["role_id"], "name": r["name"], "group_name": _group_name(d, r)}
            for r in d.roles_of(user["userid"])
        ],
    }
    if user["extension"]:
        out["extension"] = json.dumps(user["extension"], ensure_ascii=False, separators=(",", ":"))
    if user["hired_date"]:
        out["hired_date"] = user["hired_date"]
    for key in _OMIT_WHEN_EMPTY:
        if not out[key]:
            del out[key]
    return out


def _group_name(d: Directory, role: dict[str, Any]) -> str:
    group = d.role_groups.get(role["group_id"])
    return str(group["name"]) if group else ""


def get(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Read one user: POST /topapi/v2/user/get (dingtalk-api.md §3.4)."""
    userid = p.string("userid", required=True, max_len=64, code=40003)
    return {"result": detail(d, _user(d, userid))}


def _dept(d: Directory, p: Params, *, default: int | None = None) -> int:
    dept_id = p.integer("dept_id", required=default is None)
    dept_id = default if dept_id is None else dept_id
    assert dept_id is not None
    if dept_id not in d.depts:
        raise OapiError(60003, "部门不存在")
    return dept_id


def listid(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """List direct members' userids, no paging: POST /topapi/user/listid (§3.5)."""
    dept_id = _dept(d, p)
    return {"result": {"userid_list": [u["userid"] for u in d.direct_members(dept_id)]}}


def _page(d: Directory, p: Params) -> tuple[int, list[dict[str, Any]], int, int]:
    """Validate dept_id/cursor/size/order_field and return the sorted direct members (§3.5)."""
    dept_id = p.integer("dept_id", required=True)
    cursor = p.integer("cursor", required=True)
    size = p.integer("size", required=True)
    order_field = p.string("order_field") or "custom"
    assert dept_id is not None and cursor is not None and size is not None
    if not 0 <= cursor <= MAX_CURSOR:
        raise OapiError(40035, f"不合法的参数 cursor (0..{MAX_CURSOR})")
    if not 1 <= size <= MAX_PAGE:
        raise OapiError(40035, f"不合法的参数 size (1..{MAX_PAGE})")
    if order_field not in _ORDER_FIELDS:
        raise OapiError(40035, "不合法的参数 order_field")
    if dept_id not in d.depts:
        raise OapiError(60003, "部门不存在")
    members = d.direct_members(dept_id)
    if order_field.startswith("entry"):
        members.sort(key=lambda u: u["create_time"], reverse=order_field.endswith("desc"))
    elif order_field.startswith("modify"):
        members.sort(key=lambda u: u["modify_time"], reverse=order_field.endswith("desc"))
    else:
        # dingtalk-api.md §3.2: a higher order sorts earlier; ties keep creation order.
        members.sort(key=lambda u: -_order_in(u, dept_id))
    return dept_id, members, cursor, size


def _order_in(user: dict[str, Any], dept_id: int) -> int:
    for entry in user["dept_order_list"]:
        if entry["dept_id"] == dept_id:
            return int(entry["order"])
    return 0


def _paged(items: list[Any], cursor: int, size: int) -> dict[str, Any]:
    window = items[cursor : cursor + size]
    has_more = cursor + size < len(items)
    out: dict[str, Any] = {"has_more": has_more, "list": window}
    if has_more:
        out["next_cursor"] = cursor + size  # dingtalk-api.md §10: offset-like cursor
    return out


def list_users(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Page a department's direct members in full: POST /topapi/v2/user/list (§3.5)."""
    dept_id, members, cursor, size = _page(d, p)
    rows = []
    for user in members:
        full = detail(d, user)
        row: dict[str, Any] = {
            key: full[key]
            for key in (
                "userid",
                "unionid",
                "name",
                "avatar",
                "state_code",
                "mobile",
                "hide_mobile",
                "telephone",
                "job_number",
                "title",
                "email",
                "org_email",
                "work_place",
                "remark",
                "dept_id_list",
                "extension",
                "hired_date",
                "active",
                "admin",
                "boss",
                "exclusive_account",
            )
            if key in full
        }
        row["dept_order"] = _order_in(user, dept_id)
        row["leader"] = user["userid"] in d.depts[dept_id]["dept_manager_userid_list"]
        rows.append(row)
    return {"result": _paged(rows, cursor, size)}


def listsimple(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Page a department's direct members as {userid, name}: POST /topapi/user/listsimple (§3.5)."""
    _dept_id, members, cursor, size = _page(d, p)
    rows = [{"userid": u["userid"], "name": u["name"]} for u in members]
    return {"result": _paged(rows, cursor, size)}


def count(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Count the org's users: POST /topapi/user/count (dingtalk-api.md §3.5)."""
    only_active = p.boolean("only_active", required=True)
    users = [u for u in d.users.values() if u["active"] or not only_active]
    return {"result": {"count": len(users)}}


def getbymobile(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Find a userid by mobile: POST /topapi/v2/user/getbymobile (dingtalk-api.md §3.6)."""
    mobile = p.string("mobile", required=True, max_len=15, code=40104)
    assert mobile is not None
    if parse_mobile(mobile) is None:
        raise OapiError(40104, "无效的手机号")
    user = d.user_by_mobile(mobile)
    if user is None:
        raise OapiError(60121, "找不到该用户")
    return {"result": {"userid": user["userid"]}}


def getbyunionid(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """Find a userid by unionid: POST /topapi/user/getbyunionid (dingtalk-api.md §3.6)."""
    unionid = p.string("unionid", required=True, max_len=100)
    for user in d.users.values():
        if user["unionid"] == unionid:
            return {"result": {"contact_type": 0, "userid": user["userid"]}}
    raise OapiError(60121, "找不到该用户")


def listparentbyuser(d: Directory, p: Params, now: float) -> dict[str, Any]:
    """List each of a user's departments with its ancestry (dingtalk-api.md §4.4)."""
    userid = p.string("userid", required=True, max_len=64, code=33012)
    # dingtalk-api.md §4.4: the doc says an unknown user gives 33012 here.
    user = _user(d, userid, code=33012)
    parents = [
        {"parent_dept_id_list": d.ancestry(dept_id)}
        for dept_id in user["dept_id_list"]
        if dept_id in d.depts
    ]
    return {"result": {"parent_list": parents}}

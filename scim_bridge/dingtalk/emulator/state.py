"""The emulated org: users, departments, roles and leave records, plus snapshot and load.

Plain dicts keyed by id, so a snapshot is a JSON document and tests can read it directly. Only
the handler modules (``users.py``, ``departments.py``, ``roles.py``, ``contact_v1.py``) change it,
always under the emulator's one lock.
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

SNAPSHOT_FORMAT = 1
ROOT_DEPT_ID = 1
# DingTalk ids look like large numbers (e.g. 1507113577); ours count up and are never reused.
FIRST_DEPT_ID = 500_000_001
FIRST_ROLE_ID = 1_500_000_001
FIRST_USER_SERIAL = 1

#: dingtalk-api.md §5: the built-in role group and its system roles, which can't be edited.
SYSTEM_GROUP_NAME = "默认"
SYSTEM_ROLE_NAMES = ("负责人", "主管", "主管理员", "子管理员")

_MAINLAND = re.compile(r"^1\d{10}$")
_INTERNATIONAL = re.compile(r"^\+(\d{1,4})-(\d{4,15})$")


def parse_mobile(mobile: str) -> tuple[str, str] | None:
    """Split a mobile into (state code, national number), or None if it is malformed (§3.1)."""
    if _MAINLAND.match(mobile):
        return "86", mobile
    match = _INTERNATIONAL.match(mobile)
    if match is None:
        return None
    code, number = match.groups()
    if code == "86" and not _MAINLAND.match(number):
        return None
    return code, number


def user_defaults() -> dict[str, Any]:
    """Return the fields every stored user has, with their empty values."""
    return {
        "userid": "",
        "unionid": "",
        "name": "",
        "mobile": "",
        "state_code": "86",
        "hide_mobile": False,
        "telephone": "",
        "job_number": "",
        "title": "",
        "email": "",
        "org_email": "",
        "org_email_type": "",
        "work_place": "",
        "remark": "",
        "dept_id_list": [ROOT_DEPT_ID],
        "dept_order_list": [],
        "dept_title_list": [],
        "extension": {},
        "senior_mode": False,
        "hired_date": None,
        "manager_userid": "",
        "login_email": "",
        "language": "zh_CN",
        "avatar": "",
        # Accounts created through the API have not activated DingTalk yet (§3.2).
        "active": False,
        "real_authed": False,
        "admin": False,
        "boss": False,
        "exclusive_account": False,
        "create_time": 0,
        "modify_time": 0,
    }


def dept_defaults() -> dict[str, Any]:
    """Return the fields every stored department has, with their empty values."""
    return {
        "dept_id": 0,
        "name": "",
        "parent_id": ROOT_DEPT_ID,
        "order": 0,
        "source_identifier": "",
        "create_dept_group": False,
        "dept_group_chat_id": "",
        "auto_add_user": False,
        "auto_approve_apply": False,
        "hide_dept": False,
        "dept_permits": [],
        "user_permits": [],
        "outer_dept": False,
        "outer_dept_only_self": False,
        "outer_permit_users": [],
        "outer_permit_depts": [],
        "dept_manager_userid_list": [],
        "org_dept_owner": "",
        "group_contain_sub_dept": False,
        "group_contain_outer_dept": False,
        "group_contain_hidden_dept": False,
        "code": "",
        "brief": "",
        "telephone": "",
        "tags": "",
        "from_union_org": False,
        "create_time": 0,
    }


class Directory:
    """The whole emulated org; not thread-safe by itself (the Emulator holds the lock)."""

    def __init__(self, *, corp_id: str, org_name: str) -> None:
        self.corp_id = corp_id
        self.org_name = org_name
        self.users: dict[str, dict[str, Any]] = {}
        self.depts: dict[int, dict[str, Any]] = {}
        self.role_groups: dict[int, dict[str, Any]] = {}
        self.roles: dict[int, dict[str, Any]] = {}
        self.leave_records: list[dict[str, Any]] = []
        self.next_dept_id = FIRST_DEPT_ID
        self.next_role_id = FIRST_ROLE_ID
        self.next_user_serial = FIRST_USER_SERIAL
        self._ensure_root()
        self._ensure_system_roles()

    # --- ids ------------------------------------------------------------------------------------

    def new_dept_id(self) -> int:
        """Allocate a department id that was never used in this org."""
        dept_id = self.next_dept_id
        self.next_dept_id += 1
        return dept_id

    def new_role_id(self) -> int:
        """Allocate a role or role-group id that was never used in this org."""
        role_id = self.next_role_id
        self.next_role_id += 1
        return role_id

    def new_userid(self) -> str:
        """Generate a userid for a create that sent none: a long digit string, like DingTalk's."""
        while True:
            userid = f"{self.next_user_serial:020d}"
            self.next_user_serial += 1
            if userid not in self.users:
                return userid

    def new_unionid(self, userid: str) -> str:
        """Derive a unionid: stable for this corp and userid, different across corps (§3.6)."""
        digest = hashlib.sha256(f"{self.corp_id}/{userid}".encode()).hexdigest()
        return f"{digest[:22]}iE"

    # --- queries --------------------------------------------------------------------------------

    def children(self, dept_id: int) -> list[dict[str, Any]]:
        """Return the direct sub-departments, ordered by ``order`` then id (§4.1: lower first)."""
        kids = [d for d in self.depts.values() if d["parent_id"] == dept_id and d["dept_id"] != 1]
        return sorted(kids, key=lambda d: (d["order"], d["dept_id"]))

    def subtree(self, dept_id: int) -> set[int]:
        """Return the department and all its descendants."""
        found = {dept_id}
        frontier = [dept_id]
        while frontier:
            current = frontier.pop()
            for child in self.children(current):
                if child["dept_id"] not in found:
                    found.add(child["dept_id"])
                    frontier.append(child["dept_id"])
        return found

    def ancestry(self, dept_id: int) -> list[int]:
        """Return [dept, parent, …, 1] (§4.4 listparentbydept)."""
        chain = [dept_id]
        current = dept_id
        while current != ROOT_DEPT_ID:
            current = self.depts[current]["parent_id"]
            if current in chain:  # a loaded snapshot with a cycle: stop rather than spin
                break
            chain.append(current)
        return chain

    def direct_members(self, dept_id: int) -> list[dict[str, Any]]:
        """Return the users whose dept_id_list names this department, in creation order."""
        return [u for u in self.users.values() if dept_id in u["dept_id_list"]]

    def member_count(self, dept_id: int) -> int:
        """Count distinct users in the department or any sub-department (§4.4 member_count)."""
        depts = self.subtree(dept_id)
        return sum(1 for u in self.users.values() if depts.intersection(u["dept_id_list"]))

    def user_by_mobile(self, mobile: str) -> dict[str, Any] | None:
        """Find the user with this mobile, comparing "138…" and "+86-138…" as the same number."""
        key = parse_mobile(mobile)
        if key is None:
            return None
        for user in self.users.values():
            if parse_mobile(user["mobile"]) == key:
                return user
        return None

    def roles_of(self, userid: str) -> list[dict[str, Any]]:
        """Return the roles a user holds."""
        return [r for r in self.roles.values() if userid in r["userids"]]

    # --- snapshot and load ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Dump the whole org as JSON-ready data (the format ``load`` accepts)."""
        return copy.deepcopy(
            {
                "format": SNAPSHOT_FORMAT,
                "corp_id": self.corp_id,
                "org_name": self.org_name,
                "users": list(self.users.values()),
                "departments": sorted(self.depts.values(), key=lambda d: d["dept_id"]),
                "role_groups": sorted(self.role_groups.values(), key=lambda g: g["group_id"]),
                "roles": sorted(self.roles.values(), key=lambda r: r["role_id"]),
                "leave_records": self.leave_records,
                "counters": {
                    "next_dept_id": self.next_dept_id,
                    "next_role_id": self.next_role_id,
                    "next_user_serial": self.next_user_serial,
                },
            }
        )

    def load(self, snapshot: dict[str, Any]) -> None:
        """Replace the org with a snapshot; missing fields take their defaults.

        A minimal snapshot such as ``{"users": [{"userid", "name", "mobile", "dept_id_list"}]}``
        is enough: the root department and the system roles are added when absent.
        """
        snapshot = copy.deepcopy(snapshot)
        self.org_name = str(snapshot.get("org_name", self.org_name))
        self.users = {}
        self.depts = {}
        self.role_groups = {}
        self.roles = {}
        for raw in snapshot.get("departments", []):
            dept = dept_defaults() | dict(raw)
            dept["dept_id"] = int(dept["dept_id"])
            dept["parent_id"] = int(dept["parent_id"])
            self.depts[dept["dept_id"]] = dept
        for raw in snapshot.get("users", []):
            user = user_defaults() | dict(raw)
            user["dept_id_list"] = [int(d) for d in user["dept_id_list"]]
            parsed = parse_mobile(str(user["mobile"]))
            if parsed is not None:
                user["state_code"] = parsed[0]
            if not user["unionid"]:
                user["unionid"] = self.new_unionid(user["userid"])
            self.users[str(user["userid"])] = user
        for raw in snapshot.get("role_groups", []):
            group: dict[str, Any] = {"group_id": 0, "name": "", "system": False} | dict(raw)
            self.role_groups[int(group["group_id"])] = group
        for raw in snapshot.get("roles", []):
            role: dict[str, Any] = {
                "role_id": 0,
                "name": "",
                "group_id": 0,
                "system": False,
                "userids": [],
            }
            role |= dict(raw)
            self.roles[int(role["role_id"])] = role
        self.leave_records = list(snapshot.get("leave_records", []))
        counters = snapshot.get("counters", {})
        used_roles = [*self.roles, *self.role_groups]
        self.next_dept_id = max(
            int(counters.get("next_dept_id", FIRST_DEPT_ID)), max(self.depts, default=0) + 1
        )
        self.next_role_id = max(
            int(counters.get("next_role_id", FIRST_ROLE_ID)), max(used_roles, default=0) + 1
        )
        self.next_user_serial = int(counters.get("next_user_serial", FIRST_USER_SERIAL))
        self._ensure_root()
        self._ensure_system_roles()

    def _ensure_root(self) -> None:
        # dingtalk-api.md §4: the root department is id 1 and is named after the org.
        root = self.depts.get(ROOT_DEPT_ID)
        if root is None:
            root = dept_defaults() | {"dept_id": ROOT_DEPT_ID, "parent_id": 0}
            self.depts[ROOT_DEPT_ID] = root
        root["parent_id"] = 0
        root["name"] = self.org_name

    def _ensure_system_roles(self) -> None:
        if any(g["system"] for g in self.role_groups.values()):
            return
        group_id = self.new_role_id()
        self.role_groups[group_id] = {
            "group_id": group_id,
            "name": SYSTEM_GROUP_NAME,
            "system": True,
        }
        for name in SYSTEM_ROLE_NAMES:
            role_id = self.new_role_id()
            self.roles[role_id] = {
                "role_id": role_id,
                "name": name,
                "group_id": group_id,
                "system": True,
                "userids": [],
            }

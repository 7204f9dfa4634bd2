"""Out-of-band edits: what an administrator does by hand in DingTalk's admin console.

Tests use these to inject drift the bridge did not make (a field edited, a user deleted or
moved, an unknown user added, a department renamed) — reconcile must find it, and the
contact-change push it raises must get it repaired (issue 10). They are Python methods on the
emulator, not an HTTP side door on the emulated API: they change the org under the emulator's
lock with the same validation the API applies, log no API call, and push the event DingTalk
would push (``callbacks.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scim_bridge.dingtalk.emulator import departments, users
from scim_bridge.dingtalk.emulator.callbacks import event_for
from scim_bridge.dingtalk.emulator.state import ROOT_DEPT_ID, Directory
from scim_bridge.dingtalk.emulator.wire import OapiError, Params

if TYPE_CHECKING:
    from scim_bridge.dingtalk.emulator.app import Emulator

Handler = Callable[[Directory, Params, float], dict[str, Any]]


class AdminConsole:
    """The admin console of one emulated org; every edit raises its contact-change push."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator

    def _run(self, handler: Handler, fields: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._emulator.edit(lambda d, now: handler(d, Params(fields), now))
        except OapiError as exc:
            # The console refuses what the API refuses; a test gets it as a plain ValueError.
            raise ValueError(f"the admin console refused: {exc}") from None

    def _push(self, event_type: str, *, user_ids: Any = (), dept_ids: Any = ()) -> None:
        self._emulator.callbacks.emit(event_for(event_type, user_ids=user_ids, dept_ids=dept_ids))

    def update_user(self, userid: str, **fields: Any) -> None:
        """Change some of a user's fields (name, title, email, dept_id_list, …)."""
        self._run(users.update, {**fields, "userid": userid})
        self._push("user_modify_org", user_ids=[userid])

    def move_user(self, userid: str, dept_ids: list[int]) -> None:
        """Put a user in other departments."""
        self.update_user(userid, dept_id_list=list(dept_ids))

    def add_user(
        self,
        userid: str,
        *,
        name: str,
        mobile: str,
        dept_ids: list[int] | None = None,
        **fields: Any,
    ) -> None:
        """Add a person the bridge does not know (an orphan, for reconcile)."""
        body = {
            **fields,
            "userid": userid,
            "name": name,
            "mobile": mobile,
            "dept_id_list": list(dept_ids or [ROOT_DEPT_ID]),
        }
        self._run(users.create, body)
        self._push("user_add_org", user_ids=[userid])

    def delete_user(self, userid: str) -> None:
        """Remove a user (DingTalk keeps a leaver record)."""
        self._run(users.delete, {"userid": userid})
        self._push("user_leave_org", user_ids=[userid])

    def rename_department(self, dept_id: int, name: str) -> None:
        """Rename a department."""
        self.update_department(dept_id, name=name)

    def update_department(self, dept_id: int, **fields: Any) -> None:
        """Change some of a department's fields (name, parent_id, order, …)."""
        clash = self._emulator.config.dept_name_clash_code

        def update(d: Directory, p: Params, now: float) -> dict[str, Any]:
            return departments.update(d, p, now, clash_code=clash)

        self._run(update, {**fields, "dept_id": dept_id})
        self._push("org_dept_modify", dept_ids=[dept_id])

    def add_department(self, name: str, *, parent_id: int = ROOT_DEPT_ID) -> int:
        """Create a department the bridge does not know; return its id."""
        clash = self._emulator.config.dept_name_clash_code

        def create(d: Directory, p: Params, now: float) -> dict[str, Any]:
            return departments.create(d, p, now, clash_code=clash)

        result = self._run(create, {"name": name, "parent_id": parent_id})
        dept_id = int(result["result"]["dept_id"])
        self._push("org_dept_create", dept_ids=[dept_id])
        return dept_id

    def delete_department(self, dept_id: int) -> None:
        """Delete an empty department."""
        self._run(departments.delete, {"dept_id": dept_id})
        self._push("org_dept_remove", dept_ids=[dept_id])

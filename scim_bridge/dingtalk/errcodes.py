"""The one table from a DingTalk error reason to an exception class and a retry behaviour.

The client normalises every failed answer to a *reason* first (dingtalk-api.md §12.2): on oapi
``sub_code`` when ``errcode == 88``, else ``errcode``; on api.dingtalk.com v1.0 the ``code`` string.
This module maps that reason (plus the HTTP status, for v1.0 and gateway failures) to what the
client does next and which ``scim_bridge.errors`` class it raises. Never match on ``errmsg``
(dingtalk-api.md §1).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from scim_bridge.errors import (
    AuthFailed,
    DepartmentNotEmpty,
    DingTalkConflict,
    DingTalkError,
    DingTalkInvalid,
    DingTalkNotFound,
    IpBanned,
    PermissionDenied,
    Throttled,
    Transient,
)


class Retry(enum.Enum):
    """What the client does with a failed answer before raising (dingtalk-api.md §11 "Retry")."""

    NEVER = "N"  # fix the data or the configuration
    AUTH = "A"  # drop the cached token, fetch a new one, retry once
    THROTTLE = "Q"  # sleep ≥1 s, back off exponentially, slow the limiter down
    TRANSIENT = "T"  # back off and retry reads; writes become AmbiguousWrite
    BANNED = "B"  # trip the circuit breaker


@dataclass(frozen=True)
class Rule:
    """How one reason is handled: the class raised, the retry behaviour, the field it names."""

    error: type[DingTalkError]
    retry: Retry = Retry.NEVER
    field: str | None = None


def _n(error: type[DingTalkError], field: str | None = None) -> Rule:
    return Rule(error, Retry.NEVER, field)


_AUTH = Rule(AuthFailed, Retry.AUTH)
_THROTTLE = Rule(Throttled, Retry.THROTTLE)
_TRANSIENT = Rule(Transient, Retry.TRANSIENT)

#: Reasons meaning "the token is bad": drop it, retry the call once (dingtalk-api.md §2.3, §12.1).
TOKEN_REASONS = frozenset(
    {"40014", "42001", "40001", "40000", "33001", "41001", "InvalidAuthentication"}
)

# dingtalk-api.md §11, every row; plus §2 (token endpoints) and §8 (flow control).
RULES: dict[str, Rule] = {
    # --- transient: retry with backoff (§11 "T") --------------------------------------------
    "-1": _TRANSIENT,  # system busy
    "60019": _TRANSIENT,  # failed to read users from the department
    "unknownError": _TRANSIENT,  # v1 500
    "systemError": _TRANSIENT,  # v1 500
    "system.error": _TRANSIENT,  # v1 500 on empLeaveRecords (§6)
    "server.error": _TRANSIENT,  # v1 500 on the unified token endpoint (§2.2)
    "service.timeout": _TRANSIENT,  # v1 504
    # --- flow control (§8): sleep ≥1 s, back off, slow the limiter ----------------------------
    "90018": _THROTTLE,  # per app per API QPS, wrapped as 88/sub 90018 on /topapi
    "90002": _THROTTLE,  # global per API QPS
    **{str(code): _THROTTLE for code in range(90001, 90015)},  # 90001–90014 flow-control bans
    "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi": _THROTTLE,
    "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi": _THROTTLE,
    "Forbidden.AccessDenied.QpsLimitForApi": _THROTTLE,
    # --- quotas that a retry within minutes will not fix (§8) ----------------------------------
    "90020": _n(DingTalkError),  # monthly quota exhausted
    "Forbidden.AccessDenied.ApiCountLimitForOrg": _n(DingTalkError),
    "90017": _n(PermissionDenied),  # too many corpIds from this IP
    # --- token and credentials (§2) -----------------------------------------------------------
    "40014": _AUTH,
    "42001": _AUTH,
    "40001": _AUTH,
    "33001": _AUTH,
    "41001": _AUTH,
    "88/40000": _AUTH,  # access_token blank (wrapped); top-level 40000 is a parameter error
    "InvalidAuthentication": _AUTH,
    "AuthenticationFailed.MissingParameter": _n(AuthFailed),  # a bug: the header was not sent
    "40096": _n(AuthFailed),  # bad appKey/appSecret on gettoken
    "40089": _n(AuthFailed),  # bad corpid/corpsecret
    "invalidClientIdOrSecret": _n(AuthFailed),
    "invalid.client": _n(AuthFailed),
    "unauthorized.client": _n(AuthFailed),
    "unsupported.grant.type": _n(AuthFailed),
    # --- permission, scope, whitelist ----------------------------------------------------------
    "43007": _n(PermissionDenied),  # authorization required
    "60011": _n(PermissionDenied),  # the app lacks permission for this API
    "50002": _n(PermissionDenied, "userid"),  # user outside the app's contact scope
    "50004": _n(PermissionDenied, "dept_id"),  # department outside the app's contact scope
    "60020": _n(PermissionDenied),  # caller IP not in the whitelist
    "23004": _n(PermissionDenied, "role_id"),  # system role can't be edited
    "Forbidden.AccessDenied.AccessTokenPermissionDenied": _n(PermissionDenied),
    "Forbidden.AccessDenied.IpNotInWhiteList": _n(PermissionDenied),
    # --- not found (I on delete: the method decides) ------------------------------------------
    "60121": _n(DingTalkNotFound, "userid"),  # user not found (generic not-found in practice)
    "60111": _n(DingTalkNotFound, "userid"),  # UserID does not exist
    "33012": _n(DingTalkNotFound, "userid"),  # invalid userid
    "40003": _n(DingTalkNotFound, "userid"),  # invalid UserID
    "60003": _n(DingTalkNotFound, "dept_id"),  # department does not exist
    "60004": _n(DingTalkNotFound, "parent_id"),  # parent department does not exist
    "33011": _n(DingTalkNotFound, "role_id"),  # invalid roleId(s)
    "34020": _n(DingTalkNotFound, "groupId"),  # bad role group id
    # --- unique values already taken ------------------------------------------------------------
    "60102": _n(DingTalkConflict, "userid"),
    "60104": _n(DingTalkConflict, "mobile"),
    "60107": _n(DingTalkConflict, "mobile"),  # the user logging in with this mobile is in the org
    "40021": _n(DingTalkConflict, "mobile"),  # the mobile is a registered DingTalk account
    "40019": _n(DingTalkConflict, "mobile"),  # the mobile already joined 5 uncertified orgs
    "60106": _n(DingTalkConflict, "email"),
    "40101": _n(DingTalkConflict, "email"),
    "40100": _n(DingTalkConflict, "telephone"),
    "60008": _n(DingTalkConflict, "name"),  # department name taken under the parent (legacy)
    "60021": _n(DingTalkConflict, "name"),  # department name taken under the parent (current)
    "60016": _n(DingTalkConflict, "dept_id"),
    "34021": _n(DingTalkConflict, "roleName"),
    # --- rejected values ------------------------------------------------------------------------
    "22": _n(DingTalkError),  # unknown topapi method (a path typo: our bug)
    "404": _n(DingTalkError),  # URI does not exist
    "40000": _n(DingTalkInvalid),  # parameter error
    "400002": _n(DingTalkInvalid),
    "40035": _n(DingTalkInvalid),  # invalid or missing parameter
    "40038": _n(DingTalkInvalid),  # malformed request
    "47001": _n(DingTalkInvalid),  # body unparseable
    "invalidParameter": _n(DingTalkInvalid),
    "invalidParameter.param.invalid": _n(DingTalkInvalid),
    "60103": _n(DingTalkInvalid, "mobile"),
    "40104": _n(DingTalkInvalid, "mobile"),
    "40022": _n(DingTalkInvalid, "mobile"),  # org mobile differs from the login mobile
    "41054": _n(DingTalkInvalid, "mobile"),  # mobile can't be changed now; delete and re-add
    "60112": _n(DingTalkInvalid, "name"),
    "60105": _n(DingTalkInvalid, "email"),
    "60119": _n(DingTalkInvalid, "position"),
    "60120": _n(DingTalkInvalid, "userid"),  # user disabled
    "60122": _n(DingTalkInvalid, "extension"),
    "60123": _n(DingTalkInvalid, "job_number"),
    "60128": _n(DingTalkInvalid, "manager_userid"),
    "40063": _n(DingTalkInvalid, "extension"),
    "40064": _n(DingTalkInvalid, "work_place"),
    "40065": _n(DingTalkInvalid, "remark"),
    "40066": _n(DingTalkInvalid, "dept_id_list"),
    "40103": _n(DingTalkInvalid, "mobile"),  # account protection: an invite was sent instead
    "60001": _n(DingTalkInvalid, "name"),  # department name
    "60009": _n(DingTalkInvalid, "name"),  # illegal characters in the department name
    "60002": _n(DingTalkInvalid, "parent_id"),  # depth limit
    "60010": _n(DingTalkInvalid, "parent_id"),  # cycle
    "40009": _n(DingTalkInvalid, "dept_id"),
    "40010": _n(DingTalkInvalid, "parent_id"),
    "40011": _n(DingTalkInvalid, "order"),
    "40031": _n(DingTalkInvalid, "userid_list"),
    "40093": _n(DingTalkInvalid, "org_dept_owner"),
    "60109": _n(DingTalkInvalid, "user_permits"),
    "600109": _n(DingTalkInvalid, "user_permits"),
    "60005": _n(DepartmentNotEmpty, "dept_id"),  # the department still has members
    "60006": _n(DepartmentNotEmpty, "dept_id"),  # the department has sub-departments
    "60007": _n(DingTalkInvalid, "dept_id"),  # the root can't be deleted
    "60018": _n(DingTalkInvalid, "dept_id"),  # the root can't be updated
    "40068": _n(DingTalkInvalid, "offset"),
    "40069": _n(DingTalkInvalid, "size"),
    "34018": _n(DingTalkInvalid, "roleName"),
    "660000": _n(DingTalkInvalid, "roleName"),
    # --- capacity limits ------------------------------------------------------------------------
    "40020": _n(DingTalkError),  # org member cap
    "40024": _n(DingTalkError),  # org member cap
    "40023": _n(DingTalkError),  # department member cap (1000)
    "60110": _n(DingTalkError),  # too many departments
}

BANNED = Rule(IpBanned, Retry.BANNED)
UNKNOWN = Rule(DingTalkError, Retry.NEVER)


def rule_for(reason: str, *, wrapped: bool = False, status: int = 200) -> Rule:
    """Return the rule for a normalised reason; ``wrapped`` means it came as oapi 88/sub_code."""
    if wrapped and f"88/{reason}" in RULES:
        return RULES[f"88/{reason}"]
    rule = RULES.get(reason)
    if rule is not None:
        return rule
    # An unknown v1 code still tells the class by its HTTP status (dingtalk-api.md §11 HTTP rows).
    if status >= 500:
        return _TRANSIENT
    if reason.startswith("Forbidden.AccessDenied.Qp"):
        return _THROTTLE
    return UNKNOWN
